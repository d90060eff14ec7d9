// quantlens-cli: the headless twin of the desktop app. Each command lives in
// its own cmd_*.cpp and calls the same core API as the GUI.
#include <CLI/CLI.hpp>
#if QL_HAVE_QT
#include <QCoreApplication>
#endif
#include <spdlog/sinks/stdout_color_sinks.h>  // declares stderr_color_mt too
#include <spdlog/spdlog.h>

#include "app/cli/cli_common.h"
#if QL_HAVE_CUDA
#include "gpu/cuda_backend.h"
#endif

int main(int argc, char** argv) {
#if QL_HAVE_QT
  // Qt's image plugins (JPEG, WebP) are found through the application object.
  QCoreApplication qt_app(argc, argv);
#endif
  // Log lines go to stderr: stdout carries the commands' output (text, JSON).
  spdlog::set_default_logger(spdlog::stderr_color_mt("quantlens"));
#if QL_HAVE_CUDA
  // --backend auto|cuda finds the GPU through core's registry.
  ql::gpu::register_cuda_backend();
#endif

  CLI::App app{"QuantLens command line: inspect, tokenize and preprocess for Qwen3-VL-MoE",
               "quantlens-cli"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("quantlens-cli ") + QL_VERSION);
  int exit_code = ql::cli::kExitOk;
  ql::cli::add_info_command(app, exit_code);
  ql::cli::add_tokenize_commands(app, exit_code);
  ql::cli::add_preprocess_command(app, exit_code);
  ql::cli::add_generate_command(app, exit_code);
  ql::cli::add_chat_command(app, exit_code);
  ql::cli::add_plan_command(app, exit_code);
  ql::cli::add_compare_command(app, exit_code);
  ql::cli::add_eval_command(app, exit_code);
  ql::cli::add_export_command(app, exit_code);
  ql::cli::add_bench_command(app, exit_code);
#if QL_HAVE_SERVER
  ql::cli::add_serve_command(app, exit_code);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return ql::cli::kExitBadInput;
  }
  return exit_code;
}
