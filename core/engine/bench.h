#pragma once
// The benchmark behind `quantlens-cli bench` (docs/benchmark.md): for each
// precision, one model loaded from a folder or a synthetic checkpoint, then
// timed runs after an untimed warm-up, each figure as median, minimum and
// maximum over its repetitions:
//   load seconds and weight GiB;
//   decode tokens/s at batch 1 (128 generated tokens after a 32-token prompt),
//   and at each batch of `batches` (that many sequences decoded together by
//   Engine::run_sequences, each its own 32-token prompt; aggregate tokens/s
//   from the step after the last prefill to the end);
//   prefill tokens/s for a 512-token text prompt (empty KV cache each time);
//   prompt to first token with one 1024x1024 image (preprocessing included);
//   peak memory (weights + KV cache + the largest workspace) and the device's
//   memory in use at the end;
//   the weight bytes one decoded token reads (attention, router, the top-k
//   share of the experts, dense MLP, norms, the output head) times decode
//   tokens/s: the achieved weight bandwidth, and its fraction of the
//   device-to-device copy bandwidth the same run measures.
// Prompts are fixed pseudo-random token ids (no tokenizer needed), so the
// figures are the same for a synthetic model as for a real one.
#include <functional>
#include <string>
#include <vector>

#include "core/backend/backend_registry.h"
#include "core/common/result.h"

namespace ql::engine {

struct BenchRequest {
  std::string model;                    // folder or synthetic:NAME
  std::vector<std::string> precisions;  // each a precision string (LoadOptions::precision)
  backend::BackendChoice backend = backend::BackendChoice::kAuto;
  int threads = 0;
  int64_t context_tokens = 0;  // 0: the engine's default
  int repetitions = 5;         // timed runs of each figure (after one warm-up)
  int64_t decode_tokens = 128;
  int64_t prefill_tokens = 512;
  int image_side = 1024;       // 0: no image figure
  std::vector<int> batches;    // batched decode figures (2..16); the model loads with the largest as parallel
};

struct Spread {
  double median = 0, min = 0, max = 0;
};

struct BatchedDecode {
  int batch = 0;
  Spread tok_s;  // aggregate over the batch's sequences
};

struct BenchRow {
  std::string precision;  // as loaded (canonical)
  std::string backend, device;
  double weights_gib = 0;
  double load_s = 0;
  Spread decode_tok_s;
  std::vector<BatchedDecode> batched;
  Spread prefill_tok_s;
  Spread image_ttft_ms;  // zeros without an image figure
  int64_t image_tokens = 0;
  double peak_gib = 0;         // weights + KV cache + peak workspace
  double device_used_gib = 0;  // device total - free at the end (all processes)
  double device_total_gib = 0;
  double kv_cache_gib = 0;
  double active_weight_gib_per_token = 0;
  double achieved_gb_s = 0;    // active bytes x median decode tokens/s
  double copy_gb_s = 0;        // device-to-device copy, bytes read + written per second
  double fraction_of_copy = 0;
};

struct BenchReport {
  std::vector<BenchRow> rows;
};

// Called before each precision and figure ("bf16: loading", "bf16: decode", ...).
using BenchProgress = std::function<void(const std::string& stage)>;

Result<BenchReport> run_bench(const BenchRequest& request, const BenchProgress& progress = {});

}  // namespace ql::engine
