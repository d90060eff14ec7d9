#include <CLI/CLI.hpp>

#include "app/cli/cli_common.h"

namespace ql::cli {
void add_tokenize_commands(CLI::App& app, int& exit_code) { (void)app; (void)exit_code; }
}  // namespace ql::cli
