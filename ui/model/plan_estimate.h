#pragma once
// The memory planner's answer for the model panel, before anything loads:
// what a precision needs for a model folder's config (weights, KV cache,
// workspace, runtime) against the memory budget, as text a person can act on
// — in particular a plain "does not fit" with the numbers.
#include <QString>
#include <cstdint>
#include <optional>

#include "core/model/model_config.h"
#include "core/quant/memory_plan.h"

namespace ql::ui {

struct PlanInput {
  QString precision = "bf16";  // preset, "auto" or a per-component list
  int64_t context_tokens = 4096;
  int64_t batch = 1;
  double budget_gib = 0;  // 0: no budget (then "auto" is an error)
  int64_t max_image_pixels = 16777216;  // the preprocessor's largest image
};

struct PlanEstimate {
  QString error;  // non-empty: no plan (bad precision, bad budget, ...)
  std::optional<quant::MemoryPlan> plan;
  QString resolved_precision;  // canonical ("auto" resolved)
  bool has_budget = false;
  bool fits = true;            // true when there is no budget to check
  uint64_t usable_bytes = 0;   // of the budget
  int64_t margin_bytes = 0;    // usable - total

  bool ok() const { return error.isEmpty(); }
  // One or two sentences: "Fits: ..." or "Does not fit: ... needs X (weights ...)
  // but a budget of B GiB leaves U usable ..." or the error.
  QString summary() const;
  // The plan's rows, one per line (components, KV cache, workspace, runtime, total).
  QString breakdown() const;
};

PlanEstimate estimate_plan(const model::ModelConfig& config, const PlanInput& input);

// "12.3 MiB" below a GiB, "1.23 GiB" above (small demo models must not read as 0.00 GiB).
QString human_bytes(uint64_t bytes);

}  // namespace ql::ui
