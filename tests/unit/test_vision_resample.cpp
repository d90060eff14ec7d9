// The uint8 antialiased bicubic resampler: taps and outputs worked out by hand
// from the algorithm in docs/model.md §4.1 step 3, plus properties that hold for any
// correct implementation.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "core/vision/resample.h"
#include "core/vision/resample_weights.h"

namespace ql::vision {
namespace {

// A width x 1 image whose three channels all hold `row`.
ImageRGB8 gray_row(const std::vector<uint8_t>& row) {
  ImageRGB8 img;
  img.width = static_cast<int>(row.size());
  img.height = 1;
  for (uint8_t v : row) img.pixels.insert(img.pixels.end(), {v, v, v});
  return img;
}

ImageRGB8 transpose(const ImageRGB8& in) {
  ImageRGB8 out;
  out.width = in.height;
  out.height = in.width;
  out.pixels.resize(in.pixels.size());
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int c = 0; c < 3; ++c) out.pixels[(x * out.width + y) * 3 + c] = in.at(y, x, c);
  return out;
}

ImageRGB8 resize_ok(const ImageRGB8& src, int w, int h) {
  auto r = resize_bicubic_antialias(src, {w, h});
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? *r : ImageRGB8{};
}

std::vector<int> channel0(const ImageRGB8& img) {
  std::vector<int> out;
  for (size_t i = 0; i < img.pixels.size(); i += 3) out.push_back(img.pixels[i]);
  return out;
}

TEST(VisionResample, KeysKernelValues) {
  // a = -0.5: K(x) = 1.5|x|^3 - 2.5|x|^2 + 1 on [0,1), -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2 on [1,2).
  EXPECT_DOUBLE_EQ(keys_cubic(0.0), 1.0);
  EXPECT_DOUBLE_EQ(keys_cubic(0.25), 0.8671875);
  EXPECT_DOUBLE_EQ(keys_cubic(-0.75), 0.2265625);
  EXPECT_DOUBLE_EQ(keys_cubic(1.25), -0.0703125);
  EXPECT_DOUBLE_EQ(keys_cubic(1.0), 0.0);
  EXPECT_DOUBLE_EQ(keys_cubic(2.0), 0.0);
  EXPECT_DOUBLE_EQ(keys_cubic(-3.0), 0.0);
}

// 4 -> 2: scale 2, support 4, 1/scale = 0.5. Output 0: centre 1, xmin 0, xmax 4,
// kernel at (j - 0.5) * 0.5 = -0.25, 0.25, 0.75, 1.25 -> 111/128, 111/128, 29/128,
// -9/128, sum 121/64 -> normalised 111/242, 111/242, 29/242, -9/242. Output 1 is
// the mirror. Largest weight 111/242 = 0.4587: 0.4587 * 2^17 >= 32768 -> precision 16.
// Fixed point: 111/242 * 65536 = 30059.9 -> 30060; 29/242 * 65536 = 7853.5 -> 7853;
// -9/242 * 65536 = -2437.3 -> -2437 (round half away from zero).
TEST(VisionResample, DownscaleTapsByHand) {
  const ResampleTaps t = compute_resample_taps(4, 2);
  EXPECT_EQ(t.precision, 16);
  EXPECT_EQ(t.stride, 9);  // ceil(4) * 2 + 1
  ASSERT_EQ(t.first, (std::vector<int>{0, 0}));
  ASSERT_EQ(t.count, (std::vector<int>{4, 4}));
  EXPECT_EQ(std::vector<int32_t>(t.weights_of(0), t.weights_of(0) + 4),
            (std::vector<int32_t>{30060, 30060, 7853, -2437}));
  EXPECT_EQ(std::vector<int32_t>(t.weights_of(1), t.weights_of(1) + 4),
            (std::vector<int32_t>{-2437, 7853, 30060, 30060}));
}

TEST(VisionResample, DownscaleOutputByHand) {
  // (30060*10 + 30060*20 + 7853*30 - 2437*40 + 32768) >> 16 = 1072678 >> 16 = 16
  // (-2437*10 + 7853*20 + 30060*30 + 30060*40 + 32768) >> 16 = 2269658 >> 16 = 34
  EXPECT_EQ(channel0(resize_ok(gray_row({10, 20, 30, 40}), 2, 1)), (std::vector<int>{16, 34}));
}

// 2 -> 4: scale 0.5, support 2, no kernel stretch. Centres 0.25, 0.75, 1.25, 1.75,
// all with xmin 0 and 2 taps: K(0.25), K(1.25) = 111/128, -9/128 -> 111/102, -9/102;
// K(-0.25), K(0.75) -> 111/140, 29/140; then the mirrors. Largest 111/102 = 1.088:
// 1.088 * 2^15 = 35659 >= 32768 -> precision 14. Fixed point (x 16384):
// 17829.6 -> 17830, -1445.6 -> -1446, 12990.2 -> 12990, 3393.8 -> 3394.
TEST(VisionResample, UpscaleTapsByHand) {
  const ResampleTaps t = compute_resample_taps(2, 4);
  EXPECT_EQ(t.precision, 14);
  ASSERT_EQ(t.first, (std::vector<int>{0, 0, 0, 0}));
  ASSERT_EQ(t.count, (std::vector<int>{2, 2, 2, 2}));
  const std::vector<std::vector<int32_t>> expected = {
      {17830, -1446}, {12990, 3394}, {3394, 12990}, {-1446, 17830}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(std::vector<int32_t>(t.weights_of(i), t.weights_of(i) + 2), expected[i]) << i;
  }
}

TEST(VisionResample, UpscaleOutputByHandIncludingClamp) {
  // [100, 200]: (17830*100 - 1446*200 + 8192) >> 14 = 1501992 >> 14 = 91;
  // (12990*100 + 3394*200 + 8192) >> 14 = 121; (3394*100 + 12990*200 + 8192) >> 14 = 179;
  // (-1446*100 + 17830*200 + 8192) >> 14 = 209.
  EXPECT_EQ(channel0(resize_ok(gray_row({100, 200}), 4, 1)),
            (std::vector<int>{91, 121, 179, 209}));
  // [0, 255]: the overshoots -22.0 and 278.0 are clamped to 0 and 255;
  // (3394*255 + 8192) >> 14 = 53, (12990*255 + 8192) >> 14 = 202.
  EXPECT_EQ(channel0(resize_ok(gray_row({0, 255}), 4, 1)), (std::vector<int>{0, 53, 202, 255}));
}

TEST(VisionResample, VerticalPassUsesTheSameTaps) {
  // A column is resampled exactly like a row.
  const ImageRGB8 out = resize_ok(transpose(gray_row({10, 20, 30, 40})), 1, 2);
  EXPECT_EQ(channel0(out), (std::vector<int>{16, 34}));
}

TEST(VisionResample, ChannelsAreIndependent) {
  ImageRGB8 img;
  img.width = 2;
  img.height = 1;
  img.pixels = {100, 0, 7, 200, 255, 7};  // R = [100,200], G = [0,255], B constant
  const ImageRGB8 out = resize_ok(img, 4, 1);
  const std::vector<uint8_t> expected = {91, 0, 7, 121, 53, 7, 179, 202, 7, 209, 255, 7};
  EXPECT_EQ(out.pixels, expected);
}

// 2x2 -> 4x4 is horizontal first, then vertical, each rounding to uint8: the
// expected image is built here from the hand-derived 2 -> 4 taps above.
TEST(VisionResample, TwoDimensionsHorizontalPassFirst) {
  const int32_t taps[4][2] = {{17830, -1446}, {12990, 3394}, {3394, 12990}, {-1446, 17830}};
  auto pass = [&](int a, int b, int i) {
    return std::clamp((taps[i][0] * a + taps[i][1] * b + 8192) >> 14, 0, 255);
  };
  const int src[2][2] = {{100, 200}, {0, 255}};
  int mid[2][4];
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 4; ++x) mid[y][x] = pass(src[y][0], src[y][1], x);
  ImageRGB8 img;
  img.width = 2;
  img.height = 2;
  for (auto& row : src)
    for (int v : row) img.pixels.insert(img.pixels.end(), {uint8_t(v), uint8_t(v), uint8_t(v)});
  const ImageRGB8 out = resize_ok(img, 4, 4);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x)
      EXPECT_EQ(out.at(y, x, 0), pass(mid[0][x], mid[1][x], y)) << y << "," << x;
  EXPECT_EQ(mid[1][0], 0);  // the clamp of the intermediate is exercised
}

TEST(VisionResample, SameSizeIsIdentity) {
  ImageRGB8 img;
  img.width = 37;
  img.height = 23;
  std::mt19937 rng(7);
  for (int i = 0; i < img.width * img.height * 3; ++i) img.pixels.push_back(rng() & 0xff);
  EXPECT_EQ(resize_ok(img, 37, 23).pixels, img.pixels);
}

TEST(VisionResample, ConstantImageStaysConstant) {
  // Normalised taps sum to 2^precision after rounding, so a flat image stays flat.
  for (auto [w, h, ow, oh] : {std::array{33, 17, 256, 128}, std::array{640, 480, 96, 64},
                              std::array{1000, 10, 3, 7}, std::array{5, 300, 5, 64}}) {
    ImageRGB8 img;
    img.width = w;
    img.height = h;
    for (int i = 0; i < w * h; ++i) img.pixels.insert(img.pixels.end(), {17, 128, 250});
    const ImageRGB8 out = resize_ok(img, ow, oh);
    ASSERT_EQ(out.width, ow);
    ASSERT_EQ(out.height, oh);
    for (int i = 0; i < ow * oh; ++i) {
      ASSERT_EQ(out.pixels[i * 3 + 0], 17) << w << "x" << h << " -> " << ow << "x" << oh;
      ASSERT_EQ(out.pixels[i * 3 + 1], 128);
      ASSERT_EQ(out.pixels[i * 3 + 2], 250);
    }
  }
}

TEST(VisionResample, LargeDownscaleTapsCoverTheWholeSupport) {
  // 640 -> 32: scale 20, support 40, 81 taps stored; an output in the middle
  // reads int(c + 40.5) - int(c - 39.5) = 80 samples (c = 20*(i+0.5)).
  const ResampleTaps t = compute_resample_taps(640, 32);
  EXPECT_EQ(t.stride, 81);
  EXPECT_EQ(t.first[16], 290);  // int(330 - 40 + 0.5)
  EXPECT_EQ(t.count[16], 80);
  EXPECT_EQ(t.first[0], 0);
  EXPECT_EQ(t.count[0], 50);  // int(10 + 40.5) = 50
  int64_t sum = 0;
  for (int k = 0; k < t.count[16]; ++k) sum += t.weights_of(16)[k];
  // Each of 80 weights rounds by at most 1/2 unit.
  EXPECT_LE(std::abs(sum - (int64_t{1} << t.precision)), 40);
}

TEST(VisionResample, RefusesMalformedInput) {
  ImageRGB8 bad;
  bad.width = 4;
  bad.height = 4;
  bad.pixels.resize(10);
  auto r = resize_bicubic_antialias(bad, {8, 8});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("10 bytes"), std::string::npos) << r.message();
  auto z = resize_bicubic_antialias(gray_row({1, 2}), {0, 4});
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.message().find("0x4"), std::string::npos) << z.message();
}

}  // namespace
}  // namespace ql::vision
