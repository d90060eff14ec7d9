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

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

inline CliRun run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "") {
  ScratchDir dir;
  // The demo model has no tokenizer.json: the installed default must be the one found.
  std::string cmd = "env -u QUANTLENS_TOKENIZER ";
  cmd += shell_quote(QL_CLI_PATH);
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "literal" + string.
  for (const auto& a : args) {
    cmd += ' ';
    cmd += shell_quote(a);
  }
  cmd += " <";
  cmd += shell_quote(dir.write("stdin", stdin_text));
  cmd += " >";
  cmd += shell_quote(dir.file("out"));
  cmd += " 2>";
  cmd += shell_quote(dir.file("err"));
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir.file("out"));
  r.err = slurp(dir.file("err"));
  return r;
}

}  // namespace ql::engine::testing
