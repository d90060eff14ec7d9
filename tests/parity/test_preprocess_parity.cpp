// Preprocessing against reference data made by transformers 5.17
// (Qwen2VLImageProcessor, torchvision backend) on another machine:
// tests/data/preprocess/cases.json plus PNGs and float32 dumps of pixel_values.
// The resampler is meant to be bit-identical, so differences should be ~0;
// the tolerances below only absorb float32 normalisation rounding.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/vision/preprocess.h"
#include "ui/imageio/image_decode.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kMaxAbsTolerance = 0.01;
constexpr double kMeanAbsTolerance = 1e-3;

const fs::path kDir = fs::path(QL_TEST_DATA) / "preprocess";

json load_cases() {
  std::ifstream in(kDir / "cases.json");
  EXPECT_TRUE(in.good()) << (kDir / "cases.json")
                         << " is missing: the reference data has not been committed yet";
  if (!in) return json();
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "cases.json is not valid JSON";
  return j.is_discarded() ? json() : j;
}

std::vector<float> read_f32(const fs::path& path) {
  static_assert(std::endian::native == std::endian::little, "dumps are little-endian float32");
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.size() % 4, 0u) << path;
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

ql::vision::PreprocessConfig config_for(const json& c) {
  ql::vision::PreprocessConfig cfg;  // published defaults, the case's pixel limits
  cfg.min_pixels = c.at("min_pixels").get<int64_t>();
  cfg.max_pixels = c.at("max_pixels").get<int64_t>();
  return cfg;
}

TEST(PreprocessParity, MatchesTransformers) {
  const json cases = load_cases();
  ASSERT_TRUE(cases.contains("cases")) << "no \"cases\" in cases.json";
  ASSERT_FALSE(cases["cases"].empty());
  for (const json& c : cases["cases"]) {
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE(name);
    auto image = ql::imageio::decode_image_file((kDir / c.at("image").get<std::string>()).string());
    ASSERT_TRUE(image.ok()) << image.message();
    ASSERT_EQ(image->width, c.at("width").get<int>());
    ASSERT_EQ(image->height, c.at("height").get<int>());

    auto pre = ql::vision::preprocess_image(*image, config_for(c), name);
    ASSERT_TRUE(pre.ok()) << pre.message();
    EXPECT_EQ(pre->resized.height, c.at("resized_height").get<int>());
    EXPECT_EQ(pre->resized.width, c.at("resized_width").get<int>());
    const auto grid = c.at("grid_thw").get<std::vector<int>>();
    ASSERT_EQ(grid.size(), 3u);
    EXPECT_EQ(pre->grid_t, grid[0]);
    EXPECT_EQ(pre->grid_h, grid[1]);
    EXPECT_EQ(pre->grid_w, grid[2]);
    EXPECT_EQ(pre->num_image_tokens(), c.at("num_image_tokens").get<int64_t>());

    const json& pv = c.at("pixel_values");
    const int cols = pv.at("cols").get<int>();
    ASSERT_EQ(cols, pre->patch_dim);
    std::vector<int64_t> rows;
    if (pv.at("rows").is_string()) {
      ASSERT_EQ(pv.at("rows").get<std::string>(), "all");
      for (int64_t r = 0; r < pre->num_patches(); ++r) rows.push_back(r);
    } else {
      rows = pv.at("rows").get<std::vector<int64_t>>();
    }
    const std::vector<float> ref = read_f32(kDir / pv.at("file").get<std::string>());
    ASSERT_EQ(ref.size(), rows.size() * cols) << "size of " << pv.at("file");

    double max_abs = 0, sum_abs = 0;
    size_t n_exact = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      ASSERT_GE(rows[i], 0);
      ASSERT_LT(rows[i], pre->num_patches());
      const float* ours = pre->pixel_values.data() + rows[i] * cols;
      const float* theirs = ref.data() + i * cols;
      for (int k = 0; k < cols; ++k) {
        const double d = std::abs(static_cast<double>(ours[k]) - theirs[k]);
        max_abs = std::max(max_abs, d);
        sum_abs += d;
        n_exact += d == 0;
      }
    }
    const double mean_abs = sum_abs / static_cast<double>(ref.size());
    std::printf("[parity] %-24s %dx%d -> %dx%d rows %zu: max|d| %.3g mean|d| %.3g exact %.4f%%\n",
                name.c_str(), image->width, image->height, pre->resized.width,
                pre->resized.height, rows.size(), max_abs, mean_abs,
                100.0 * n_exact / static_cast<double>(ref.size()));
    EXPECT_LE(max_abs, kMaxAbsTolerance);
    EXPECT_LE(mean_abs, kMeanAbsTolerance);
  }
}

TEST(PreprocessParity, RefusesWhatTransformersRefuses) {
  const json cases = load_cases();
  ASSERT_TRUE(cases.contains("errors")) << "no \"errors\" in cases.json";
  for (const json& c : cases["errors"]) {
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE(name + " (HF: " + c.value("hf_error", std::string("?")) + ")");
    const std::string path = (kDir / c.at("image").get<std::string>()).string();
    auto image = ql::imageio::decode_image_file(path);
    ASSERT_TRUE(image.ok()) << image.message();
    auto pre = ql::vision::preprocess_image(*image, config_for(c), path);
    ASSERT_FALSE(pre.ok()) << "accepted an image transformers refuses";
    EXPECT_EQ(pre.message().rfind(path + ": ", 0), 0u) << pre.message();
    std::printf("[parity] %-24s refused: %s\n", name.c_str(), pre.message().c_str());
  }
}

}  // namespace
