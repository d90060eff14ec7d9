#pragma once
// LoadOptions::precision and memory_budget_gib, turned into what the loader
// needs before any weight is read: the policy that gives each tensor its
// format, "auto" resolved by the memory planner, and a plan that does not fit
// the budget refused with its numbers.
#include <cstdint>
#include <optional>
#include <string>

#include "core/common/result.h"
#include "core/model/model_config.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"

namespace ql::engine {

struct ResolvedPrecision {
  // nullopt: every tensor in the checkpoint's dtype, untouched.
  std::optional<quant::PrecisionPolicy> policy;
  std::string name;  // canonical: precision_string(policy), or "as stored (F32)"
  std::optional<quant::MemoryPlan> plan;  // made when a budget was given
};

// `precision` empty: the checkpoint's own dtype, which is bf16 for every
// published Qwen3-VL checkpoint (so empty = "bf16" there); an fp16 checkpoint
// stays fp16 and an fp32 one (the tiny test checkpoints) stays fp32, as
// stored. `budget_gib` 0: no check ("auto" then is an error). The plan is for
// `request` (context, the preprocessor's largest image, the backend's element
// sizes).
// Errors: an unknown precision (listing the valid presets and keys), a bad
// budget, "auto" without one, or a plan over the budget, in one line with its
// weights, KV cache, workspace, runtime and total against the usable budget.
Result<ResolvedPrecision> resolve_precision(const std::string& precision, double budget_gib,
                                            const model::ModelConfig& config, const quant::PlanRequest& request);

}  // namespace ql::engine
