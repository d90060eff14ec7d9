#pragma once
// Whether a comparison holds its precisions together or runs them one after
// another. Held together, each precision is a separate Engine with its own
// weights, KV cache, workspace and backend, so the cost is the sum of the
// memory planner's totals (core/quant/memory_plan.h), each loaded alone. It
// is held together when that sum fits the budget's usable bytes: the same
// rule as quant::check_fit for one plan. Without a budget we cannot know, so
// the precisions run one after another.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/engine/compare_plan.h"
#include "core/engine/loaded_model.h"
#include "core/model/model_config.h"
#include "core/quant/memory_budget.h"
#include "core/quant/plan_request.h"

namespace ql::engine {

struct CompareMemory {
  bool together = false;
  std::vector<uint64_t> precision_bytes;  // planned total of each precision alone, run order; empty without a budget
  uint64_t sum_bytes = 0;                 // of precision_bytes
  uint64_t usable_bytes = 0;              // of the budget; 0 without one
  // One line for people, e.g. "held together: 3 precisions need 4.52 GiB of
  // 22.5 GiB usable" or "run one after another: no memory budget given".
  std::string reason;
};

// From what is already read. `budget` nullopt: one after another.
Result<CompareMemory> decide_compare_memory(const model::ModelConfig& config,
                                            std::span<const ComparePrecision> precisions,
                                            const quant::PlanRequest& request,
                                            const std::optional<quant::MemoryBudget>& budget);

// What compare_precisions decides for a request: `load.memory_budget_gib` (0 =
// no budget; then nothing is read) and `load.context_tokens` (0 = the
// engine's default, capped by the model) planned as the loader plans them,
// for the largest image preprocessor_config.json allows. Errors name the
// file, the budget or the context at fault.
Result<CompareMemory> decide_compare_memory(const std::string& model_dir,
                                            std::span<const ComparePrecision> precisions, const LoadOptions& load);

}  // namespace ql::engine
