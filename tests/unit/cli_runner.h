#pragma once
// Runs the built quantlens-cli the way a user would and captures what it
// printed and its exit code. Output goes to a private mkdtemp folder, so tests
// running in parallel processes never read each other's output.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ql::testing {

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// `line`: the arguments, already quoted; `env_args`: given to env(1) (by
// default the tokenizer search starts clean: no QUANTLENS_TOKENIZER).
inline CliRun run_cli_line(const std::string& line, const std::string& stdin_text = "",
                           const std::string& env_args = "-u QUANTLENS_TOKENIZER") {
  namespace fs = std::filesystem;
  std::string dir = (fs::temp_directory_path() / "ql_cli_test_XXXXXX").string();
  if (!mkdtemp(dir.data())) std::abort();
  const std::string in = dir + "/stdin", out = dir + "/out", err = dir + "/err";
  std::ofstream(in, std::ios::binary) << stdin_text;
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "literal" + string.
  std::string cmd = "env ";
  cmd += env_args;
  cmd += ' ';
  cmd += shell_quote(QL_CLI_PATH);
  cmd += ' ';
  cmd += line;
  cmd += " <";
  cmd += shell_quote(in);
  cmd += " >";
  cmd += shell_quote(out);
  cmd += " 2>";
  cmd += shell_quote(err);
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return r;
}

inline CliRun run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "",
                      const std::string& env_args = "-u QUANTLENS_TOKENIZER") {
  std::string line;
  for (const auto& a : args) {
    if (!line.empty()) line += ' ';
    line += shell_quote(a);
  }
  return run_cli_line(line, stdin_text, env_args);
}

}  // namespace ql::testing
