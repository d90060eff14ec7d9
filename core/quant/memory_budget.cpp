#include "core/quant/memory_budget.h"

#include <cmath>

namespace ql::quant {
namespace {

constexpr double kMaxGiB = 4096.0;

const PrecisionPolicy& preset_policy(std::string_view name) {
  for (const auto& p : precision_presets())
    if (p.name == name) return p.policy;
  return precision_presets().front().policy;  // unreachable: auto_preset_order names presets
}

}  // namespace

Result<MemoryBudget> budget_from_gib(double gib) {
  if (!std::isfinite(gib) || gib <= 0.0 || gib > kMaxGiB)
    return err("VRAM {} GiB is not a number of GiB in (0, {}]", gib, kMaxGiB);
  return MemoryBudget{static_cast<uint64_t>(std::llround(gib * static_cast<double>(kGiB)))};
}

FitCheck check_fit(const MemoryPlan& plan, const MemoryBudget& budget) {
  const int64_t margin = static_cast<int64_t>(budget.usable_bytes()) - static_cast<int64_t>(plan.total_bytes());
  return FitCheck{margin >= 0, margin};
}

Result<MemoryPlan> plan_precision(const model::ModelConfig& config, const PrecisionChoice& choice,
                                  const PlanRequest& request, const std::optional<MemoryBudget>& budget) {
  if (!choice.automatic) return plan_memory(config, choice.policy, request);
  if (!budget) return err("precision auto needs a memory budget (the GPU's VRAM in GiB) to choose a preset");
  Result<MemoryPlan> last = err("precision auto: no preset to try");
  for (std::string_view name : auto_preset_order()) {
    last = plan_memory(config, preset_policy(name), request);
    if (!last.ok() || check_fit(*last, *budget).fits) return last;
  }
  return last;
}

}  // namespace ql::quant
