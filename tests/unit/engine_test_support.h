#pragma once
// Shared by the engine tests: where the demo model, the reference cases and
// the images are, reading a reference case file, and running quantlens-cli
// (arguments quoted, optional stdin, stdout/stderr/exit code captured).
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/vision/image.h"
#include "tests/unit/cli_runner.h"

namespace ql::engine::testing {

namespace fs = std::filesystem;

inline std::string data_path(const std::string& rel) { return std::string(QL_TEST_DATA) + "/" + rel; }
// resources/ sits two levels above tests/data (as the cases files' "folder" says).
inline std::string demo_model_dir() { return data_path("../../resources/demo-model"); }
inline std::string resource_image(const std::string& name) { return data_path("../../resources/images/" + name); }
inline std::string engine_image(const std::string& name) { return data_path("engine/images/" + name); }

// tests/data/engine/cases-NAME.json
inline nlohmann::json read_cases(const std::string& name) {
  std::ifstream in(data_path("engine/cases-" + name + ".json"));
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

inline const nlohmann::json* find_case(const nlohmann::json& cases, const std::string& name) {
  for (const auto& c : cases["cases"])
    if (c["name"] == name) return &c;
  return nullptr;
}

// Image tokens of picture i of a reference case: t * h * w / 4 of its image_grid_thw (the 2x2
// merge), so tests follow the checkpoint's preprocessing instead of hard-coding it.
inline int64_t case_image_tokens(const nlohmann::json& c, size_t i = 0) {
  const auto& g = c["image_grid_thw"][i];
  return g[0].get<int64_t>() * g[1].get<int64_t>() * g[2].get<int64_t>() / 4;
}
// Prompt tokens of a reference case.
inline int64_t case_prompt_tokens(const nlohmann::json& c) { return static_cast<int64_t>(c["input_ids"].size()); }

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "ql_engine_test_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(file(name), std::ios::binary) << content;
    return file(name);
  }

 private:
  std::string path_;
};

// A side x side picture of pseudo-random pixels (a fixed generator: the same every run).
inline ql::vision::ImageRGB8 noise_picture(int side) {
  ql::vision::ImageRGB8 im;
  im.width = im.height = side;
  im.pixels.resize(static_cast<size_t>(side) * side * 3);
  uint32_t x = 12345;
  for (auto& p : im.pixels) p = static_cast<uint8_t>((x = x * 1664525u + 1013904223u) >> 24);
  return im;
}

// The demo model in dir/demo with another upper pixel limit (preprocessor_config.json's
// size.longest_edge; the weights linked, not copied): for tests that need large pictures to
// make long prefills. Pictures below the limit are resized as before.
inline std::string demo_model_with_max_pixels(const ScratchDir& dir, int64_t max_pixels) {
  const fs::path src = demo_model_dir(), dst = dir.file("demo");
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) {
    if (e.path().filename() == "preprocessor_config.json") continue;
    fs::create_symlink(fs::absolute(e.path()), dst / e.path().filename());
  }
  std::ifstream in(src / "preprocessor_config.json");
  auto pre = nlohmann::json::parse(in);
  pre["size"]["longest_edge"] = max_pixels;
  std::ofstream(dst / "preprocessor_config.json") << pre.dump(2);
  return dst.string();
}

using ql::testing::CliRun;
using ql::testing::run_cli;
using ql::testing::shell_quote;
using ql::testing::slurp;

}  // namespace ql::engine::testing
