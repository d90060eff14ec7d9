#include "app/cli/compare_cli.h"

#include <atomic>
#include <csignal>
#include <iostream>

#include <fmt/format.h>

#include "app/cli/engine_cli.h"
#include "app/cli/stop_signals.h"
#include "core/engine/compare_plan.h"

namespace ql::cli {
namespace {

// The flag keeps later steps from starting, stop() ends the running one
// (both lock-free atomic stores, safe in a signal handler).
std::atomic<bool> g_cancel{false};

}  // namespace

Result<engine::CompareRequest> compare_request_of(const CompareRunOptions& o) {
  engine::CompareRequest r;
  r.model_dir = o.model_dir;
  r.precisions = engine::split_precision_list(o.precisions);
  if (auto plan = engine::plan_compare_precisions(r.precisions); !plan) return plan.error();
  if (o.tokens < 1) return err("--tokens {} must be at least 1", o.tokens);
  r.tokens = o.tokens;
  QL_ASSIGN_OR_RETURN(r.load.backend, backend_choice(o.backend));
  r.load.threads = o.threads;
  r.load.context_tokens = o.context;
  r.load.memory_budget_gib = o.vram_gib;
  return r;
}

engine::CompareProgress compare_progress_printer(bool verbose) {
  if (!verbose) return {};
  return [last = std::string()](const engine::CompareStep& s) mutable {
    std::string line = s.load_fraction < 1 || s.prompt == s.prompt_count
                           ? fmt::format("[{}/{}] loading {:3.0f}%", s.precision + 1, s.precision_count,
                                         100 * s.load_fraction)
                           : fmt::format("[{}/{}] prompt {}/{}", s.precision + 1, s.precision_count, s.prompt + 1,
                                         s.prompt_count);
    if (line == last) return;  // loading reports per tensor
    std::cerr << "\r" << fmt::format("{:<40}", line) << std::flush;
    last = std::move(line);
  };
}

Result<engine::CompareReport> run_cancellable_compare(engine::Engine& engine, const engine::CompareRequest& request,
                                                      const engine::CompareProgress& progress) {
  g_cancel.store(false);
  StopSignals signals(engine, {SIGINT, SIGTERM, SIGHUP}, &g_cancel);
  return engine::compare_precisions(engine, request, progress, &g_cancel);
}

}  // namespace ql::cli
