// smart_resize against cases worked out by hand from docs/model.md §4.1 step 2
// (factor 32, Python's half-to-even round, float64).
#include <gtest/gtest.h>

#include "core/vision/preprocess_config.h"
#include "core/vision/smart_resize.h"

namespace ql::vision {
namespace {

ImageSize resize_ok(int width, int height, const PreprocessConfig& cfg = {}) {
  auto r = smart_resize({width, height}, cfg, "img.png");
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? *r : ImageSize{};
}

PreprocessConfig with_min_pixels(int64_t min_pixels) {
  PreprocessConfig cfg;
  cfg.min_pixels = min_pixels;
  return cfg;
}

TEST(VisionSmartResize, TinyImageGrowsToMinPixels) {
  // round(20/32)*32 = 32; 32*32 = 1024 < 65536 -> beta = sqrt(65536/400) = 12.8,
  // ceil(20*12.8/32)*32 = ceil(8)*32 = 256.
  EXPECT_EQ(resize_ok(20, 20), (ImageSize{256, 256}));
}

TEST(VisionSmartResize, SizesThatAreAlreadyMultiplesStay) {
  EXPECT_EQ(resize_ok(4096, 4096), (ImageSize{4096, 4096}));  // exactly max_pixels
  EXPECT_EQ(resize_ok(1920, 1088), (ImageSize{1920, 1088}));
}

TEST(VisionSmartResize, RoundsHalfToEven) {
  const PreprocessConfig cfg = with_min_pixels(1024);  // keep the plain rounding branch
  // 80/32 = 2.5 -> 2 (not 3); 112/32 = 3.5 -> 4.
  EXPECT_EQ(resize_ok(112, 80, cfg), (ImageSize{128, 64}));
  // 48/32 = 1.5 -> 2.
  EXPECT_EQ(resize_ok(48, 48, cfg), (ImageSize{64, 64}));
  // 1080/32 = 33.75 -> 34 -> 1088.
  EXPECT_EQ(resize_ok(1920, 1080), (ImageSize{1920, 1088}));
}

TEST(VisionSmartResize, SideBelowFactorIsNotRefused) {
  // transformers 5.17 dropped the "must be larger than factor" guard: 16/32 = 0.5
  // rounds to 0, so 0 < 1024 -> beta = sqrt(1024/16384) = 0.25,
  // h = ceil(16*0.25/32)*32 = 32, w = ceil(1024*0.25/32)*32 = 8*32 = 256.
  EXPECT_EQ(resize_ok(1024, 16, with_min_pixels(1024)), (ImageSize{256, 32}));
  // 1x1: beta = 256, ceil(256/32)*32 = 256.
  EXPECT_EQ(resize_ok(1, 1), (ImageSize{256, 256}));
}

TEST(VisionSmartResize, MinPixelsBranch) {
  // 100x50: round -> 96x64 = 6144 < 65536; beta = sqrt(65536/5000) = 3.6204;
  // h = ceil(50*3.6204/32) = ceil(5.657) = 6 -> 192; w = ceil(11.314) = 12 -> 384.
  EXPECT_EQ(resize_ok(100, 50), (ImageSize{384, 192}));
}

TEST(VisionSmartResize, MaxPixelsBranch) {
  // 8192x6144: 50331648 > 16777216 -> beta = sqrt(3) = 1.7320508;
  // h = floor(6144/1.7320508/32) = floor(110.85) = 110 -> 3520,
  // w = floor(8192/1.7320508/32) = floor(147.80) = 147 -> 4704.
  EXPECT_EQ(resize_ok(8192, 6144), (ImageSize{4704, 3520}));
  // One side just over 4096 rounds back down: 4097/32 = 128.03 -> 4096.
  EXPECT_EQ(resize_ok(4097, 4097), (ImageSize{4096, 4096}));
}

TEST(VisionSmartResize, MaxPixelsBranchKeepsAtLeastOneFactor) {
  PreprocessConfig cfg;
  cfg.max_pixels = 32 * 32 * 10;
  // 6400x32 (ratio exactly 200, allowed): 204800 > 10240 -> beta = sqrt(20) = 4.4721;
  // h = floor(32/4.4721/32) = 0 -> max(32, 0) = 32; w = floor(6400/4.4721/32) = 44 -> 1408.
  EXPECT_EQ(resize_ok(6400, 32, cfg), (ImageSize{1408, 32}));
}

TEST(VisionSmartResize, OtherFactorFromConfig) {
  PreprocessConfig cfg;  // Qwen2-VL class defaults: factor 28, 56*56 .. 28*28*1280
  cfg.patch_size = 14;
  cfg.min_pixels = 3136;
  cfg.max_pixels = 1003520;
  // 28*28 = 784 < 3136 -> beta = sqrt(3136/400) = 2.8, ceil(20*2.8/28) = 2 -> 56.
  EXPECT_EQ(resize_ok(20, 20, cfg), (ImageSize{56, 56}));
}

TEST(VisionSmartResize, RefusesTooElongatedNamingRatioAndLimit) {
  auto r = smart_resize({250, 1}, PreprocessConfig{}, "x.png");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "x.png: image is too elongated: aspect ratio 250.0 exceeds 200");

  auto tall = smart_resize({2, 401}, PreprocessConfig{}, "tall.png");
  ASSERT_FALSE(tall.ok());
  EXPECT_EQ(tall.message(), "tall.png: image is too elongated: aspect ratio 200.5 exceeds 200");
  EXPECT_EQ(tall.error().kind, ErrorKind::kInput);
}

TEST(VisionSmartResize, RatioOfExactlyTheLimitIsAccepted) {
  EXPECT_EQ(resize_ok(200, 1), (ImageSize{3648, 32}));  // ceil(200*18.1/32) = 114 -> 3648
}

TEST(VisionSmartResize, RefusesZeroDimensionAsTooSmall) {
  auto r = smart_resize({0, 10}, PreprocessConfig{}, "empty.png");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("empty.png: image is too small"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("0x10"), std::string::npos) << r.message();

  auto h = smart_resize({10, 0}, PreprocessConfig{}, "flat.png");
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.message().find("flat.png: image is too small"), std::string::npos) << h.message();
}

TEST(VisionSmartResize, EmptyLabelGivesUnprefixedMessage) {
  auto r = smart_resize({201, 1}, PreprocessConfig{}, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "image is too elongated: aspect ratio 201.0 exceeds 200");
}

}  // namespace
}  // namespace ql::vision
