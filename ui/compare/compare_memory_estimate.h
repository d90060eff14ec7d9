#pragma once
// Before a comparison runs, the compare view shows the memory planner's
// figures (core/quant/memory_plan.h) for each precision and for the largest
// alone, against the memory budget; whether they are held together is the
// engine's own decision (core/engine/compare_memory.h), shown beside them.
// Reads only config.json and preprocessor_config.json, so it is quick enough
// for the UI thread and works on a folder without weights. No Qt.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/quant/memory_budget.h"

namespace ql::ui {

struct PrecisionMemory {
  std::string name;        // canonical, as the comparison loads it
  bool reference = false;  // the row the others are measured against
  bool added = false;      // bf16 added as the reference
  uint64_t weights_bytes = 0;
  uint64_t total_bytes = 0;  // weights + KV cache + workspace + runtime, loaded alone
};

struct CompareMemoryEstimate {
  std::vector<PrecisionMemory> rows;  // run order: the reference first
  // One precision at a time: the largest single plan is the peak.
  uint64_t one_at_a_time_bytes = 0;
  std::optional<quant::MemoryBudget> budget;
  bool one_at_a_time_fits = true;  // meaningful with a budget
};

// `precisions` as the person chose them (presets or policies); the run order
// and the added reference come from plan_compare_precisions. `context_tokens`
// 0 means the engine's default. Errors name the folder, file or precision.
Result<CompareMemoryEstimate> estimate_compare_memory(const std::string& model_dir,
                                                      const std::vector<std::string>& precisions,
                                                      int64_t context_tokens,
                                                      const std::optional<quant::MemoryBudget>& budget);

}  // namespace ql::ui
