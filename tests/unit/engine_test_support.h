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

using ql::testing::CliRun;
using ql::testing::run_cli;
using ql::testing::shell_quote;
using ql::testing::slurp;

}  // namespace ql::engine::testing
