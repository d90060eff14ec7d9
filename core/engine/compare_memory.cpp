#include "core/engine/compare_memory.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/engine/context_limit.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"
#include "core/vision/preprocess_config.h"

namespace ql::engine {
namespace {

// "12.3 MiB" below a GiB: the demo model's plans must not all read 0.0 GiB.
std::string size_text(uint64_t bytes) {
  if (bytes < quant::kGiB) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / quant::kMiB);
  return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / quant::kGiB);
}

// The context the loader allocates (loaded_model.cpp): the default, capped by the model's limit.
Result<int64_t> planned_context(int64_t asked, const model::ModelConfig& config) {
  if (asked < 0) return err("context size {} is invalid (expected a positive number of tokens)", asked);
  if (asked > 0) return asked;
  const int64_t limit = config.text.max_position_embeddings;
  return limit > 0 ? std::min(kDefaultContextTokens, limit) : kDefaultContextTokens;
}

CompareMemory no_budget() {
  CompareMemory m;
  m.reason = "run one after another: no memory budget given";
  return m;
}

}  // namespace

Result<CompareMemory> decide_compare_memory(const model::ModelConfig& config,
                                            std::span<const ComparePrecision> precisions,
                                            const quant::PlanRequest& request,
                                            const std::optional<quant::MemoryBudget>& budget) {
  if (!budget) return no_budget();
  CompareMemory m;
  m.usable_bytes = budget->usable_bytes();
  uint64_t largest = 0;
  for (const ComparePrecision& p : precisions) {
    auto choice = quant::parse_precision(p.name);
    if (!choice) return choice.error();
    auto plan = quant::plan_precision(config, *choice, request, budget);
    if (!plan) return Error{fmt::format("{}: {}", p.name, plan.message()), plan.error().kind};
    m.precision_bytes.push_back(plan->total_bytes());
    m.sum_bytes += plan->total_bytes();
    largest = std::max(largest, plan->total_bytes());
  }
  m.together = m.sum_bytes <= m.usable_bytes;
  m.reason = m.together ? fmt::format("held together: {} precisions need {} of {} usable", precisions.size(),
                                      size_text(m.sum_bytes), size_text(m.usable_bytes))
                        : fmt::format("run one after another: together they would need {}, more than the {} usable "
                                      "(the largest alone needs {})",
                                      size_text(m.sum_bytes), size_text(m.usable_bytes), size_text(largest));
  return m;
}

Result<CompareMemory> decide_compare_memory(const std::string& model_dir,
                                            std::span<const ComparePrecision> precisions, const LoadOptions& load) {
  if (load.memory_budget_gib == 0) return no_budget();
  QL_ASSIGN_OR_RETURN(const quant::MemoryBudget budget, quant::budget_from_gib(load.memory_budget_gib));
  QL_ASSIGN_OR_RETURN(const model::ModelConfig config, model::load_model_config(model_dir));
  QL_ASSIGN_OR_RETURN(const vision::PreprocessConfig preprocess, vision::load_preprocess_config(model_dir));
  quant::PlanRequest request;
  QL_ASSIGN_OR_RETURN(request.context_tokens, planned_context(load.context_tokens, config));
  request.max_image_pixels = preprocess.max_pixels;
  return decide_compare_memory(config, precisions, request, budget);
}

}  // namespace ql::engine
