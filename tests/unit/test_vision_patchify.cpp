// Patch order, temporal duplication, normalisation and the grid/token counts of
// preprocess_image, checked against docs/model.md §4.1 steps 4-6.
#include <gtest/gtest.h>

#include <cmath>

#include "core/vision/normalize.h"
#include "core/vision/pixel_stats.h"
#include "core/vision/preprocess.h"

namespace ql::vision {
namespace {

// R = x, G = y, B = 200: every value says where it came from.
ImageRGB8 coordinate_image(int width, int height) {
  ImageRGB8 img;
  img.width = width;
  img.height = height;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      img.pixels.insert(img.pixels.end(), {uint8_t(x), uint8_t(y), uint8_t(200)});
  return img;
}

// Undo (v - 127.5) / 127.5 of the published config.
int level_of(float p) { return static_cast<int>(std::lround(p * 127.5f + 127.5f)); }

PreprocessConfig no_resize_limits() {
  PreprocessConfig cfg;
  cfg.min_pixels = 1024;  // 96x64 is already a multiple of 32 inside the limits
  return cfg;
}

TEST(VisionPatchify, GridAndCounts) {
  auto r = preprocess_image(coordinate_image(96, 64), no_resize_limits(), "coords");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->resized, (ImageSize{96, 64}));
  EXPECT_EQ(r->original, (ImageSize{96, 64}));
  EXPECT_EQ(r->grid_t, 1);
  EXPECT_EQ(r->grid_h, 4);  // 64 / 16
  EXPECT_EQ(r->grid_w, 6);  // 96 / 16
  EXPECT_EQ(r->patch_dim, 1536);
  EXPECT_EQ(r->num_patches(), 24);
  EXPECT_EQ(r->num_image_tokens(), 6);  // 24 / (2*2)
  EXPECT_EQ(r->pixel_values.size(), 24u * 1536u);
}

TEST(VisionPatchify, EveryValueLandsWhereTheSpecSays) {
  auto r = preprocess_image(coordinate_image(96, 64), no_resize_limits(), "coords");
  ASSERT_TRUE(r.ok()) << r.message();
  const int gw = 6;
  int checked = 0;
  for (int row = 0; row < 24; ++row) {
    // row = ((br * gw/2 + bc) * 4 + ir * 2 + ic)
    const int cell = row % 4, block = row / 4;
    const int ir = cell / 2, ic = cell % 2;
    const int br = block / (gw / 2), bc = block % (gw / 2);
    for (int col = 0; col < 1536; ++col) {
      // col = ((c * 2 + t) * 16 + y) * 16 + x
      const int x = col % 16, y = (col / 16) % 16, t = (col / 256) % 2, c = col / 512;
      const int px = 16 * (2 * bc + ic) + x;
      const int py = 16 * (2 * br + ir) + y;
      const int expected = c == 0 ? px : c == 1 ? py : 200;
      const int got = level_of(r->pixel_values[row * 1536 + col]);
      ASSERT_EQ(got, expected) << "row " << row << " col " << col << " (c=" << c << " t=" << t
                               << " y=" << y << " x=" << x << ")";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 24 * 1536);
}

TEST(VisionPatchify, BothFramesAreIdentical) {
  auto r = preprocess_image(coordinate_image(64, 64), no_resize_limits(), "coords");
  ASSERT_TRUE(r.ok()) << r.message();
  for (int64_t row = 0; row < r->num_patches(); ++row)
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 256; ++i) {
        const float* p = r->pixel_values.data() + row * 1536 + c * 512;
        ASSERT_EQ(p[i], p[256 + i]) << row << " " << c << " " << i;
      }
}

TEST(VisionNormalize, PublishedConfigMapsLevelsToMinusOneToOne) {
  const NormalizeTable t = make_normalize_table(PreprocessConfig{});
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(t[c][0], -1.0f);
    EXPECT_EQ(t[c][255], 1.0f);
    // Spec: (u8 - 127.5) / 127.5 in float32.
    EXPECT_EQ(t[c][128], (128.0f - 127.5f) / 127.5f);
    EXPECT_EQ(t[c][100], (100.0f - 127.5f) / 127.5f);
  }
}

TEST(VisionNormalize, ClipStatisticsPerChannel) {
  PreprocessConfig cfg;
  cfg.image_mean = {0.48145466, 0.4578275, 0.40821073};
  cfg.image_std = {0.26862954, 0.26130258, 0.27577711};
  const NormalizeTable t = make_normalize_table(cfg);
  // (v/255 - mean) / std, to float32 precision.
  EXPECT_NEAR(t[0][0], -0.48145466 / 0.26862954, 1e-5);
  EXPECT_NEAR(t[1][255], (1.0 - 0.4578275) / 0.26130258, 1e-5);
  EXPECT_NEAR(t[2][77], (77 / 255.0 - 0.40821073) / 0.27577711, 1e-5);
}

TEST(VisionNormalize, RescaleOnlyAndNeither) {
  PreprocessConfig cfg;
  cfg.do_normalize = false;
  EXPECT_EQ(make_normalize_table(cfg)[1][51], 51.0f * static_cast<float>(1.0 / 255.0));
  cfg.do_rescale = false;
  EXPECT_EQ(make_normalize_table(cfg)[2][51], 51.0f);
}

TEST(VisionPreprocess, ResizesThenPatchifies) {
  ImageRGB8 img;
  img.width = 20;
  img.height = 20;
  img.pixels.assign(20 * 20 * 3, 255);
  auto r = preprocess_image(img, PreprocessConfig{}, "white.png");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->resized, (ImageSize{256, 256}));
  EXPECT_EQ(r->original, (ImageSize{20, 20}));
  EXPECT_EQ(r->grid_h, 16);
  EXPECT_EQ(r->grid_w, 16);
  EXPECT_EQ(r->num_image_tokens(), 64);
  const PixelStats s = compute_pixel_stats(r->pixel_values);
  EXPECT_EQ(s.count, 256u * 1536u);
  EXPECT_EQ(s.min, 1.0f);
  EXPECT_EQ(s.max, 1.0f);
  EXPECT_EQ(s.mean, 1.0);
  EXPECT_EQ(s.std, 0.0);
}

TEST(VisionPreprocess, ErrorsNameTheLabel) {
  ImageRGB8 img;
  img.width = 300;
  img.height = 1;
  img.pixels.assign(300 * 3, 0);
  auto r = preprocess_image(img, PreprocessConfig{}, "strip.png");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "strip.png: image is too elongated: aspect ratio 300.0 exceeds 200");

  img.pixels.resize(5);
  auto bad = preprocess_image(img, PreprocessConfig{}, "short.raw");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("short.raw: pixel buffer has 5 bytes"), std::string::npos)
      << bad.message();
}

TEST(VisionPreprocess, WithoutResizeSidesMustBeMultiples) {
  PreprocessConfig cfg;
  cfg.do_resize = false;
  auto ok = preprocess_image(coordinate_image(64, 32), cfg, "a.png");
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->resized, (ImageSize{64, 32}));
  EXPECT_EQ(ok->num_patches(), 8);
  auto r = preprocess_image(coordinate_image(40, 32), cfg, "b.png");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "b.png: image size 40x32 is not a multiple of 32 (do_resize is off)");
}

TEST(VisionPixelStats, MeanAndPopulationStd) {
  const std::vector<float> v = {-1.0f, 0.0f, 1.0f, 2.0f};
  const PixelStats s = compute_pixel_stats(v);
  EXPECT_EQ(s.min, -1.0f);
  EXPECT_EQ(s.max, 2.0f);
  EXPECT_DOUBLE_EQ(s.mean, 0.5);
  EXPECT_DOUBLE_EQ(s.std, std::sqrt(1.25));  // (2.25 + 0.25 + 0.25 + 2.25) / 4
}

}  // namespace
}  // namespace ql::vision
