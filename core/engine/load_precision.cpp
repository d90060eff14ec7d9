#include "core/engine/load_precision.h"

#include <spdlog/spdlog.h>

#include "core/quant/memory_budget.h"

namespace ql::engine {
namespace {

// "12.3 MiB" below a GiB, "1.23 GiB" above: small models must not read as 0.00 GiB.
std::string human_bytes(uint64_t bytes) {
  if (bytes < quant::kGiB) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / quant::kMiB);
  return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / quant::kGiB);
}

// The precision an empty LoadOptions::precision stands for.
ResolvedPrecision checkpoint_dtype(const model::ModelConfig& config) {
  const auto& presets = quant::precision_presets();
  auto preset = [&](std::string_view name) {
    for (const auto& p : presets)
      if (p.name == name) return ResolvedPrecision{p.policy, std::string(name), std::nullopt};
    return ResolvedPrecision{};  // unreachable: bf16 and fp16 are presets
  };
  if (config.dtype == model::DType::kBF16) return preset("bf16");
  if (config.dtype == model::DType::kF16) return preset("fp16");
  if (config.dtype == model::DType::kF32) return ResolvedPrecision{std::nullopt, "as stored (F32)", std::nullopt};
  return ResolvedPrecision{std::nullopt, "as stored", std::nullopt};
}

Error over_budget(const std::string& precision, const quant::MemoryPlan& plan, const quant::MemoryBudget& budget,
                  double budget_gib) {
  return err("precision {} needs {} (weights {} + KV cache {} + workspace {} + runtime {}) but the budget of {} GiB "
             "leaves {} usable; choose a smaller precision or a larger budget",
             precision, human_bytes(plan.total_bytes()), human_bytes(plan.weights_bytes),
             human_bytes(plan.kv_cache_bytes), human_bytes(plan.workspace_bytes()),
             human_bytes(plan.runtime_overhead_bytes), budget_gib, human_bytes(budget.usable_bytes()));
}

}  // namespace

Result<ResolvedPrecision> resolve_precision(const std::string& precision, double budget_gib,
                                            const model::ModelConfig& config, const quant::PlanRequest& request) {
  std::optional<quant::MemoryBudget> budget;
  if (budget_gib != 0) {
    auto b = quant::budget_from_gib(budget_gib);
    if (!b) return b.error();
    budget = *b;
  }

  quant::PrecisionChoice choice;
  if (precision.empty()) {
    ResolvedPrecision stored = checkpoint_dtype(config);
    if (!budget) return stored;
    if (!stored.policy)
      return err("{}: a checkpoint kept {} has no memory plan to check against a budget; give a precision ({})",
                 config.source, stored.name, quant::valid_presets_text());
    choice.policy = *stored.policy;
  } else {
    auto parsed = quant::parse_precision(precision);
    if (!parsed) return parsed.error();
    choice = *parsed;
    if (choice.automatic && !budget)
      return err("precision auto needs a memory budget (the GPU's memory in GiB) to pick the highest preset that "
                 "fits");
    if (!budget) return ResolvedPrecision{choice.policy, quant::precision_string(choice.policy), std::nullopt};
  }

  auto plan = quant::plan_precision(config, choice, request, budget);
  if (!plan) return plan.error();
  const std::string name = quant::precision_string(plan->policy);
  if (!quant::check_fit(*plan, *budget).fits)
    return over_budget(choice.automatic ? "auto (even " + name + ")" : name, *plan, *budget, budget_gib);
  if (choice.automatic)
    spdlog::info("precision auto: {} fits the budget of {} GiB ({} of {} usable)", name, budget_gib,
                 human_bytes(plan->total_bytes()), human_bytes(budget->usable_bytes()));
  return ResolvedPrecision{plan->policy, name, std::move(plan).value()};
}

}  // namespace ql::engine
