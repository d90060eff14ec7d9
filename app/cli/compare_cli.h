#pragma once
// What `compare` and `eval` share: the comparison request from their common
// options (everything but the prompts, checked before any model loads), the
// --verbose progress line, and running it with Ctrl+C, SIGTERM and SIGHUP
// cancelling it (stop_signals.h).
#include <cstdint>
#include <string>

#include "core/common/result.h"
#include "core/engine/compare.h"

namespace ql::cli {

struct CompareRunOptions {
  std::string model_dir, precisions;
  std::string backend = "auto";
  int64_t tokens = engine::kDefaultCompareTokens;
  int threads = 0;
  int64_t context = 0;
  double vram_gib = 0;  // 0: no budget, so one after another
};

// The request without prompts; errors name the option at fault.
Result<engine::CompareRequest> compare_request_of(const CompareRunOptions& o);

// "[2/4] loading  40%", "[2/4] prompt 3/5" on stderr; nothing unless `verbose`.
engine::CompareProgress compare_progress_printer(bool verbose);

// compare_precisions with the signals cancelling it (Engine::is_cancelled
// is then true of the error).
Result<engine::CompareReport> run_cancellable_compare(engine::Engine& engine, const engine::CompareRequest& request,
                                                      const engine::CompareProgress& progress);

}  // namespace ql::cli
