#include "ui/compare/compare_memory_estimate.h"

#include <algorithm>
#include <filesystem>

#include "core/engine/compare_plan.h"
#include "core/engine/context_limit.h"
#include "core/model/model_config.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"
#include "core/vision/preprocess_config.h"

namespace ql::ui {

Result<CompareMemoryEstimate> estimate_compare_memory(const std::string& model_dir,
                                                      const std::vector<std::string>& precisions,
                                                      int64_t context_tokens,
                                                      const std::optional<quant::MemoryBudget>& budget) {
  std::error_code ec;
  if (model_dir.empty()) return err("no model folder chosen");
  if (!std::filesystem::is_directory(model_dir, ec)) return err("{}: no such folder", model_dir);
  QL_ASSIGN_OR_RETURN(auto plan, engine::plan_compare_precisions(precisions));
  QL_ASSIGN_OR_RETURN(const model::ModelConfig config, model::load_model_config(model_dir));
  QL_ASSIGN_OR_RETURN(const vision::PreprocessConfig preprocess, vision::load_preprocess_config(model_dir));

  quant::PlanRequest request;
  // The context the engine would allocate (loaded_model.cpp: the default,
  // capped by the model's own limit).
  const int64_t limit = config.text.max_position_embeddings;
  request.context_tokens = context_tokens > 0 ? context_tokens
                           : limit > 0        ? std::min(engine::kDefaultContextTokens, limit)
                                              : engine::kDefaultContextTokens;
  request.max_image_pixels = preprocess.max_pixels;

  CompareMemoryEstimate e;
  e.budget = budget;
  for (const engine::ComparePrecision& p : plan) {
    QL_ASSIGN_OR_RETURN(const quant::PrecisionChoice choice, quant::parse_precision(p.name));
    QL_ASSIGN_OR_RETURN(const quant::MemoryPlan memory, quant::plan_memory(config, choice.policy, request));
    e.rows.push_back({p.name, p.reference, p.added, memory.weights_bytes, memory.total_bytes()});
    e.one_at_a_time_bytes = std::max(e.one_at_a_time_bytes, memory.total_bytes());
  }
  if (budget) e.one_at_a_time_fits = e.one_at_a_time_bytes <= budget->usable_bytes();
  return e;
}

}  // namespace ql::ui
