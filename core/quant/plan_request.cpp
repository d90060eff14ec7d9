#include "core/quant/plan_request.h"

namespace ql::quant {

Status validate_plan_request(const PlanRequest& r) {
  const struct {
    const char* name;
    int64_t value;
  } positive[] = {{"context", r.context_tokens},
                  {"batch", r.batch},
                  {"prefill chunk", r.prefill_chunk_tokens},
                  {"attention query tile", r.attention_query_tile},
                  {"max image pixels", r.max_image_pixels}};
  for (const auto& f : positive)
    if (f.value < 1) return err("memory plan: {} {} must be at least 1", f.name, f.value);
  // Upper limits keep every byte count far from 64-bit overflow.
  if (r.context_tokens > kMaxContextTokens)
    return err("memory plan: context {} exceeds the limit {}", r.context_tokens, kMaxContextTokens);
  if (r.batch > kMaxBatch) return err("memory plan: batch {} exceeds the limit {}", r.batch, kMaxBatch);
  if (r.activation_bytes != 2 && r.activation_bytes != 4)
    return err("memory plan: activation element size {} bytes is not one of 2, 4", r.activation_bytes);
  if (r.kv_element_bytes != 1 && r.kv_element_bytes != 2 && r.kv_element_bytes != 4)
    return err("memory plan: KV cache element size {} bytes is not one of 1, 2, 4", r.kv_element_bytes);
  return {};
}

}  // namespace ql::quant
