// quantlens-cli serve: the local OpenAI-compatible server (docs/server.md).
// The server listens at once and /health reports the load's progress; the
// model loads on a second thread. SIGINT, SIGTERM and SIGHUP are taken by
// this thread alone (blocked everywhere else): the first stops taking
// requests and lets running answers finish for a few seconds (or cancels a
// load still running), then the program ends.
#include <csignal>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "app/cli/engine_cli.h"
#include "app/cli/stop_signals.h"
#include "server/local_server.h"
#include "ui/imageio/image_decode.h"

namespace ql::cli {
namespace {

constexpr auto kDrainGrace = std::chrono::seconds(5);

struct ServeOptions {
  EngineCliOptions engine;
  server::ServerOptions server;
  std::string model_name;
  double max_body_mib = static_cast<double>(server::kDefaultMaxBodyBytes >> 20);
};

int run_serve(ServeOptions& o) {
  o.engine.parallel = o.server.parallel;
  o.server.model_name = o.model_name.empty() ? server::served_model_name(o.engine.model_dir) : o.model_name;
  o.server.max_body_bytes = static_cast<size_t>(o.max_body_mib * 1024.0 * 1024.0);
  if (!o.server.policy.allow_files_dir.empty()) {
    std::error_code ec;
    const auto dir = std::filesystem::canonical(o.server.policy.allow_files_dir, ec);
    if (ec || !std::filesystem::is_directory(dir))
      return report(err("--allow-files {}: not a folder", o.server.policy.allow_files_dir));
    o.server.policy.allow_files_dir = dir.string();
  }

  // The stop signals wait for this thread: block them before any other thread starts.
  sigset_t stops;
  sigemptyset(&stops);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stops, s);
  pthread_sigmask(SIG_BLOCK, &stops, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-answer is a failed write, not the end of the program

  engine::Engine engine(&imageio::decode_image_file);
  server::LocalServer srv(engine, &imageio::decode_image_bytes, o.server);
  if (Status st = srv.start(); !st.ok()) return report(st.error());
  std::cerr << fmt::format("quantlens-cli: serving \"{}\" at http://{}:{}/v1 (OpenAI API; GET /health, /metrics); "
                           "loading the model...\n",
                           o.server.model_name, o.server.host, srv.port())
            << std::flush;

  std::atomic<int> loaded{0};  // 0 loading, 1 ready, 2 failed
  Error load_error;
  std::thread loader([&] {
    Status st = load_engine(engine, o.engine, [&srv](double f, const std::string& stage) { srv.set_loading(f, stage); });
    if (st.ok()) {
      srv.set_ready();
      const auto info = engine.info();
      std::cerr << fmt::format("quantlens-cli: ready: {} on {} ({}), precision {}, context {} tokens, {} at a time\n",
                               o.server.model_name, info->backend_name, info->device, info->precision,
                               info->context_tokens, o.server.parallel)
                << std::flush;
      loaded = 1;
    } else {
      srv.set_failed(st.message());
      load_error = st.error();
      loaded = 2;
    }
  });

  int signal = 0;
  while (loaded != 2) {
    const timespec tick{0, 200'000'000};
    const int s = sigtimedwait(&stops, nullptr, &tick);
    if (s > 0) {
      signal = s;
      break;
    }
  }
  if (signal && loaded == 0) engine.stop();  // a load still running is cancelled
  loader.join();
  if (loaded == 2 && !signal) return report(load_error);
  if (signal) std::cerr << fmt::format("quantlens-cli: {}: finishing running answers (up to {} s)...\n",
                                       signal_name(signal), kDrainGrace.count())
                        << std::flush;
  srv.stop(kDrainGrace);
  const auto s = srv.stats();
  std::cerr << fmt::format("quantlens-cli: stopped after {} answers ({} cancelled, {} failed, {} refused), {} tokens\n",
                           s.completed, s.cancelled, s.failed, s.rejected, s.completion_tokens);
  return kExitOk;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Serve a model over a local OpenAI-compatible HTTP API "
                                          "(POST /v1/chat/completions, GET /v1/models, /health, /metrics)");
  add_model_options(cmd, o->engine);
  cmd->add_option("--host", o->server.host, "Address to listen on (127.0.0.1: this machine only)")
      ->capture_default_str()
      ->check(not_empty_text());
  cmd->add_option("--port", o->server.port, "Port to listen on (0: any free port, printed at start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", o->server.parallel, "Requests answered together (1-16)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  cmd->add_option("--max-queue", o->server.max_queued,
                  "Requests that may wait for a slot beyond those; more are refused with HTTP 429")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--api-key", o->server.api_key,
                  "Require \"Authorization: Bearer KEY\" on every request but /health (default: none)")
      ->envname("QUANTLENS_API_KEY")
      ->check(not_empty_text());
  cmd->add_option("--allow-files", o->server.policy.allow_files_dir,
                  "A folder whose pictures requests may name by path or file:// URL (default: none; data URLs "
                  "always work, http(s) URLs never: the server fetches nothing)");
  cmd->add_option("--model-name", o->model_name,
                  "The name clients give as \"model\" (default: the model folder's name)")
      ->check(not_empty_text());
  cmd->add_option("--max-tokens", o->server.default_max_tokens,
                  "Answer length for requests that set no max_tokens")
      ->capture_default_str()
      ->check(positive_tokens());
  cmd->add_option("--max-body-mib", o->max_body_mib, "Largest request body in MiB; larger ones get HTTP 413")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 4096.0));
  cmd->callback([o, &exit_code] { exit_code = run_serve(*o); });
}

}  // namespace ql::cli
