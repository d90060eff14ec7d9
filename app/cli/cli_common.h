#pragma once
// Shared conventions of quantlens-cli commands: errors go to stderr as one
// line; exit code 2 for bad arguments or input, 1 for other failures.
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/common/result.h"

namespace ql::cli {

enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitBadInput = 2 };

inline int report(const Error& e) {
  std::cerr << "quantlens-cli: error: " << e.message << "\n";
  return e.kind == ErrorKind::kInput ? kExitBadInput : kExitFailure;
}

inline void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << "\n"; }

}  // namespace ql::cli

namespace CLI {
class App;
}

namespace ql::cli {
// Each command registers itself on the app; its callback stores the exit code.
void add_info_command(CLI::App& app, int& exit_code);
void add_tokenize_commands(CLI::App& app, int& exit_code);
void add_preprocess_command(CLI::App& app, int& exit_code);
void add_generate_command(CLI::App& app, int& exit_code);
void add_chat_command(CLI::App& app, int& exit_code);
void add_plan_command(CLI::App& app, int& exit_code);
void add_compare_command(CLI::App& app, int& exit_code);
void add_eval_command(CLI::App& app, int& exit_code);
void add_export_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);  // builds with the server (QL_HAVE_SERVER)
}  // namespace ql::cli
