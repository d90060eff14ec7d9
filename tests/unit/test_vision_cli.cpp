// quantlens-cli preprocess: output for good images, exit code 2 and a one-line
// message naming the file for bad ones.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QColor>
#include <QImage>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

namespace fs = std::filesystem;

struct CliRun {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

CliRun run_cli(const std::string& args) {
  CliRun r;
  const std::string cmd = std::string(QL_CLI_PATH) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class VisionCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ql_vision_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string png(const std::string& name, int w, int h, QColor colour) {
    QImage img(w, h, QImage::Format_RGB888);
    img.fill(colour);
    const std::string path = (dir_ / name).string();
    EXPECT_TRUE(img.save(QString::fromStdString(path), "PNG")) << path;
    return path;
  }

  fs::path dir_;
};

TEST_F(VisionCli, TextReportOfOneImage) {
  const std::string path = png("white.png", 20, 20, Qt::white);
  const CliRun r = run_cli("preprocess " + path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find(path), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("original size   20x20"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("resized size    256x256"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("grid (t,h,w)    1,16,16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("patches         256 x 1536"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("image tokens    64"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("min 1.000000 max 1.000000 mean 1.000000 std 0.000000"),
            std::string::npos)
      << r.out;
}

TEST_F(VisionCli, JsonReportOfTwoImages) {
  const std::string a = png("black.png", 100, 50, Qt::black);
  const std::string b = png("white.png", 64, 64, Qt::white);
  const CliRun r = run_cli("preprocess --json " + a + " " + b);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  ASSERT_EQ(j["images"].size(), 2u);
  const auto& first = j["images"][0];
  EXPECT_EQ(first["file"], a);
  EXPECT_EQ(first["original"]["width"], 100);
  EXPECT_EQ(first["original"]["height"], 50);
  // 100x50 -> 384x192 (min_pixels branch, see test_vision_smart_resize).
  EXPECT_EQ(first["resized"]["width"], 384);
  EXPECT_EQ(first["resized"]["height"], 192);
  EXPECT_EQ(first["grid_thw"], nlohmann::json({1, 12, 24}));
  EXPECT_EQ(first["num_patches"], 288);
  EXPECT_EQ(first["patch_dim"], 1536);
  EXPECT_EQ(first["num_image_tokens"], 72);
  EXPECT_EQ(first["pixel_values"]["min"], -1.0);
  EXPECT_EQ(first["pixel_values"]["max"], -1.0);
  EXPECT_EQ(j["images"][1]["resized"]["width"], 256);  // 64x64 grows to min_pixels
  EXPECT_EQ(j["images"][1]["pixel_values"]["mean"], 1.0);
}

TEST_F(VisionCli, ModelFolderConfigIsUsed) {
  std::ofstream(dir_ / "preprocessor_config.json") << R"({"min_pixels": 1024})";
  const std::string path = png("small.png", 64, 64, Qt::gray);
  const CliRun r = run_cli("preprocess --json --model " + dir_.string() + " " + path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["images"][0]["resized"]["width"], 64);  // no longer grown to 256
  EXPECT_EQ(j["images"][0]["num_image_tokens"], 4);
}

// Bad inputs: exit 2, one line, naming the file and the reason.
void expect_refused(const CliRun& r, const std::string& culprit, const std::string& reason) {
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find(culprit), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(reason), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "not one line: " << r.out;
}

TEST_F(VisionCli, TooElongatedImage) {
  const std::string path = png("strip.png", 250, 1, Qt::red);
  expect_refused(run_cli("preprocess " + path), path + ": image is too elongated",
                 "aspect ratio 250.0 exceeds 200");
}

TEST_F(VisionCli, MissingImage) {
  const std::string path = (dir_ / "nope.png").string();
  expect_refused(run_cli("preprocess " + path), path, "not found");
}

TEST_F(VisionCli, UndecodableImage) {
  const std::string path = (dir_ / "text.png").string();
  std::ofstream(path) << "this is not a PNG";
  expect_refused(run_cli("preprocess " + path), path, "cannot decode");
}

TEST_F(VisionCli, BadImageAfterGoodOnePrintsNoReport) {
  const std::string good = png("good.png", 32, 32, Qt::white);
  const std::string bad = png("tall.png", 1, 201, Qt::white);
  const CliRun r = run_cli("preprocess " + good + " " + bad);
  expect_refused(r, bad + ": image is too elongated", "aspect ratio 201.0 exceeds 200");
  EXPECT_EQ(r.out.find("resized size"), std::string::npos) << r.out;
}

TEST_F(VisionCli, BadModelConfig) {
  std::ofstream(dir_ / "preprocessor_config.json") << R"({"patch_size": 0})";
  const std::string path = png("a.png", 32, 32, Qt::white);
  expect_refused(run_cli("preprocess --model " + dir_.string() + " " + path),
                 (dir_ / "preprocessor_config.json").string(), "patch_size");
}

TEST_F(VisionCli, MissingModelFolder) {
  const std::string path = png("a.png", 32, 32, Qt::white);
  const std::string missing = (dir_ / "no_model").string();
  expect_refused(run_cli("preprocess --model " + missing + " " + path), missing, "not found");
}

TEST_F(VisionCli, NoImagesIsAUsageError) {
  const CliRun r = run_cli("preprocess");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("images"), std::string::npos) << r.out;
}

}  // namespace
