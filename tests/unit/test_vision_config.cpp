// preprocessor_config.json parsing: published values, overrides, and every
// bad input names the file and the field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/vision/preprocess_config.h"

namespace ql::vision {
namespace {

namespace fs = std::filesystem;

// A fresh folder per test, removed afterwards.
class VisionConfigDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ql_vision_config_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& text) {
    std::ofstream(dir_ / "preprocessor_config.json") << text;
  }
  std::string file() const { return (dir_ / "preprocessor_config.json").string(); }

  // Loads `text` and returns the error message (the test fails if it loads).
  std::string error_of(const std::string& text) {
    write(text);
    auto r = load_preprocess_config(dir_.string());
    EXPECT_FALSE(r.ok()) << "accepted: " << text;
    if (r.ok()) return {};
    EXPECT_EQ(r.message().rfind(file() + ": ", 0), 0u) << r.message();
    EXPECT_EQ(r.message().find('\n'), std::string::npos) << r.message();
    return r.message();
  }

  fs::path dir_;
};

constexpr const char* kPublished = R"({
  "size": {"longest_edge": 16777216, "shortest_edge": 65536},
  "patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
  "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
  "processor_class": "Qwen3VLProcessor", "image_processor_type": "Qwen2VLImageProcessorFast"
})";

TEST_F(VisionConfigDir, AbsentFileGivesPublishedDefaults) {
  auto r = load_preprocess_config(dir_.string());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->patch_size, 16);
  EXPECT_EQ(r->temporal_patch_size, 2);
  EXPECT_EQ(r->merge_size, 2);
  EXPECT_EQ(r->min_pixels, 65536);
  EXPECT_EQ(r->max_pixels, 16777216);
  EXPECT_EQ(r->image_mean, (std::array<double, 3>{0.5, 0.5, 0.5}));
  EXPECT_EQ(r->image_std, (std::array<double, 3>{0.5, 0.5, 0.5}));
  EXPECT_EQ(r->rescale_factor, 1.0 / 255.0);
  EXPECT_TRUE(r->do_rescale);
  EXPECT_TRUE(r->do_normalize);
  EXPECT_EQ(r->max_aspect_ratio, 200.0);
  EXPECT_EQ(r->resize_factor(), 32);
}

TEST_F(VisionConfigDir, ReadsThePublishedFile) {
  write(kPublished);
  auto r = load_preprocess_config(dir_.string());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->min_pixels, 65536);
  EXPECT_EQ(r->max_pixels, 16777216);
  EXPECT_EQ(r->patch_size, 16);
}

TEST_F(VisionConfigDir, ReadsEveryKey) {
  write(R"({"size": {"shortest_edge": 3136, "longest_edge": 1003520},
            "patch_size": 14, "temporal_patch_size": 1, "merge_size": 3,
            "image_mean": [0.1, 0.2, 0.3], "image_std": 0.25,
            "do_rescale": false, "rescale_factor": 0.5, "do_normalize": false,
            "do_resize": false, "do_convert_rgb": true, "resample": 3})");
  auto r = load_preprocess_config(dir_.string());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->min_pixels, 3136);
  EXPECT_EQ(r->max_pixels, 1003520);
  EXPECT_EQ(r->patch_size, 14);
  EXPECT_EQ(r->temporal_patch_size, 1);
  EXPECT_EQ(r->merge_size, 3);
  EXPECT_EQ(r->image_mean, (std::array<double, 3>{0.1, 0.2, 0.3}));
  EXPECT_EQ(r->image_std, (std::array<double, 3>{0.25, 0.25, 0.25}));
  EXPECT_FALSE(r->do_rescale);
  EXPECT_EQ(r->rescale_factor, 0.5);
  EXPECT_FALSE(r->do_normalize);
  EXPECT_FALSE(r->do_resize);
}

TEST_F(VisionConfigDir, MinMaxPixelsOverrideSize) {
  write(R"({"size": {"shortest_edge": 65536, "longest_edge": 16777216},
            "min_pixels": 1024, "max_pixels": 2048})");
  auto r = load_preprocess_config(dir_.string());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->min_pixels, 1024);
  EXPECT_EQ(r->max_pixels, 2048);
  // An override also stands in for a key missing from size.
  write(R"({"size": {"longest_edge": 4096}, "min_pixels": 100})");
  auto partial = load_preprocess_config(dir_.string());
  ASSERT_TRUE(partial.ok()) << partial.message();
  EXPECT_EQ(partial->min_pixels, 100);
  EXPECT_EQ(partial->max_pixels, 4096);
}

TEST_F(VisionConfigDir, WrongTypesNameTheField) {
  EXPECT_NE(error_of(R"({"patch_size": "16"})").find("patch_size must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"merge_size": 2.5})").find("merge_size"), std::string::npos);
  EXPECT_NE(error_of(R"({"size": {"shortest_edge": "a", "longest_edge": 5}})")
                .find("size.shortest_edge must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"size": [1, 2]})").find("size must be an object"), std::string::npos);
  EXPECT_NE(error_of(R"({"max_pixels": null})").find("max_pixels"), std::string::npos);
  EXPECT_NE(error_of(R"({"do_normalize": 1})").find("do_normalize must be true or false"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"image_mean": [0.5, 0.5]})").find("image_mean"), std::string::npos);
  EXPECT_NE(error_of(R"({"image_std": [0.5, "x", 0.5]})").find("image_std[1]"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"rescale_factor": "1/255"})").find("rescale_factor"),
            std::string::npos);
  EXPECT_NE(error_of(R"([1, 2, 3])").find("top level must be a JSON object"),
            std::string::npos);
}

TEST_F(VisionConfigDir, NonPositiveValuesNameTheField) {
  EXPECT_NE(error_of(R"({"patch_size": 0})").find("patch_size must be between 1 and"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"temporal_patch_size": -2})").find("temporal_patch_size"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"min_pixels": 0})").find("min_pixels"), std::string::npos);
  EXPECT_NE(error_of(R"({"size": {"shortest_edge": 10, "longest_edge": -5}})")
                .find("size.longest_edge"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"image_std": [0.5, 0.0, 0.5]})").find("image_std[1] must be a positive"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"rescale_factor": 0})").find("rescale_factor must be a positive"),
            std::string::npos);
}

TEST_F(VisionConfigDir, MinAboveMaxNamesBoth) {
  const std::string m = error_of(R"({"size": {"shortest_edge": 5000, "longest_edge": 4000}})");
  EXPECT_NE(m.find("min_pixels (size.shortest_edge) 5000 is larger than max_pixels "
                   "(size.longest_edge) 4000"),
            std::string::npos)
      << m;
  EXPECT_NE(error_of(R"({"min_pixels": 20000000})").find("20000000"), std::string::npos);
}

TEST_F(VisionConfigDir, MissingSizeKeyIsNamed) {
  EXPECT_NE(error_of(R"({"size": {"shortest_edge": 10}})").find("size.longest_edge is missing"),
            std::string::npos);
}

TEST_F(VisionConfigDir, UnsupportedResampleIsRefused) {
  EXPECT_NE(error_of(R"({"resample": 2})").find("resample 2 is not supported"),
            std::string::npos);
}

TEST_F(VisionConfigDir, InvalidJsonNamesTheFile) {
  const std::string m = error_of(R"({"patch_size": 16,)");
  EXPECT_NE(m.find("invalid JSON"), std::string::npos) << m;
}

TEST(VisionConfigText, LabelPrefixesErrors) {
  auto r = parse_preprocess_config(R"({"merge_size": true})", "cfg.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "cfg.json: merge_size must be an integer, got true");
}

}  // namespace
}  // namespace ql::vision
