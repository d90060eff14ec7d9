#include <CLI/CLI.hpp>

#include "app/cli/cli_common.h"

namespace ql::cli {
void add_info_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("info", "Summarise a checkpoint folder");
  (void)cmd;
  (void)exit_code;
}
}  // namespace ql::cli
