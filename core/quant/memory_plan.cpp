#include "core/quant/memory_plan.h"

#include "core/quant/tensor_precision.h"
#include "core/quant/weight_storage.h"

namespace ql::quant {

using model::Component;

std::array<uint64_t, model::kComponentCount> weight_bytes_by_component(const model::ModelConfig& config,
                                                                       const PrecisionPolicy& policy) {
  std::array<uint64_t, model::kComponentCount> bytes{};
  const bool head_shares_table =
      config.tie_word_embeddings && policy[PolicyKey::kLmHead] == policy[PolicyKey::kEmbeddings];
  for (const auto& spec : model::build_tensor_schema(config)) {
    if (spec.component == Component::kLmHead && head_shares_table) continue;
    bytes[static_cast<size_t>(spec.component)] += tensor_storage_bytes(tensor_format(policy, spec), spec);
  }
  return bytes;
}

uint64_t kv_cache_bytes(const model::TextConfig& t, const PlanRequest& r) {
  return 2 * static_cast<uint64_t>(t.num_layers * t.num_kv_heads * t.head_dim) *
         static_cast<uint64_t>(r.context_tokens * r.batch) * static_cast<uint64_t>(r.kv_element_bytes);
}

Result<MemoryPlan> plan_memory(const model::ModelConfig& config, const PrecisionPolicy& policy,
                               const PlanRequest& request) {
  QL_TRY(validate_plan_request(request));
  MemoryPlan plan;
  plan.policy = policy;
  plan.request = request;
  plan.component_bytes = weight_bytes_by_component(config, policy);
  for (uint64_t b : plan.component_bytes) plan.weights_bytes += b;
  plan.kv_cache_bytes = kv_cache_bytes(config.text, request);
  plan.workspace = estimate_workspace(config, request);
  return plan;
}

}  // namespace ql::quant
