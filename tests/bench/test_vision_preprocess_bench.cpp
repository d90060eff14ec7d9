// Timing of the resampler and the whole preprocessing at the largest output
// the published config allows (4096x4096). Prints the figures; the bounds are
// loose on purpose (shared CI machines) and only catch a pathological slowdown.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "core/vision/preprocess.h"
#include "core/vision/resample.h"

namespace ql::vision {
namespace {

constexpr double kSlowSeconds = 20.0;

ImageRGB8 noise_image(int width, int height) {
  ImageRGB8 img;
  img.width = width;
  img.height = height;
  img.pixels.resize(static_cast<size_t>(width) * height * 3);
  std::mt19937 rng(1234);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(rng());
  return img;
}

template <typename Fn>
double seconds(Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void bench_resize(int w, int h, int ow, int oh) {
  const ImageRGB8 src = noise_image(w, h);
  Result<ImageRGB8> out = ImageRGB8{};
  const double s = seconds([&] { out = resize_bicubic_antialias(src, {ow, oh}); });
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(out->width, ow);
  EXPECT_EQ(out->height, oh);
  std::printf("[bench] resize %dx%d -> %dx%d: %.3f s (%u hardware threads)\n", w, h, ow, oh, s,
              std::thread::hardware_concurrency());
  EXPECT_LT(s, kSlowSeconds);
}

TEST(VisionBench, UpscaleTo4096) { bench_resize(2000, 1500, 4096, 4096); }

TEST(VisionBench, DownscaleTo4096) { bench_resize(6000, 6000, 4096, 4096); }

TEST(VisionBench, PreprocessTwelveMegapixelPhoto) {
  const ImageRGB8 src = noise_image(4000, 3000);
  Result<PreprocessedImage> out = PreprocessedImage{};
  const double s = seconds([&] { out = preprocess_image(src, PreprocessConfig{}, "photo"); });
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(out->resized, (ImageSize{4000, 3008}));  // 3000/32 = 93.75 -> 94
  EXPECT_EQ(out->num_image_tokens(), 250 * 188 / 4);
  std::printf("[bench] preprocess 4000x3000 -> %dx%d (%lld patches): %.3f s\n",
              out->resized.width, out->resized.height,
              static_cast<long long>(out->num_patches()), s);
  EXPECT_LT(s, kSlowSeconds);
}

}  // namespace
}  // namespace ql::vision
