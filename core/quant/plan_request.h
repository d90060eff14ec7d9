#pragma once
// The run shape a memory plan is made for: context, batch, and the sizes of
// the largest steps the engine takes. The defaults are what the engine uses.
#include <cstdint>

#include "core/common/result.h"

namespace ql::quant {

struct PlanRequest {
  int64_t context_tokens = 8192;  // KV cache capacity per sequence
  int64_t batch = 1;              // sequences decoded together
  // Element sizes of the backend that will run it (Backend::kv_cache_dtype,
  // activation_dtype): the CUDA backend caches K and V as bf16 and computes
  // activations in fp32; the CPU backend uses fp32 for both. 1 for an 8-bit
  // cache.
  int64_t kv_element_bytes = 2;
  int64_t activation_bytes = 4;
  // Long prompts are prefilled in chunks of this many tokens, one sequence at a time.
  int64_t prefill_chunk_tokens = 2048;
  // Attention scores are materialised for one head and at most this many
  // query rows at a time (the vision tower's full-image attention needs it).
  int64_t attention_query_tile = 2048;
  // The largest image the preprocessor lets through (PreprocessConfig::max_pixels).
  int64_t max_image_pixels = 16777216;
};

inline constexpr int64_t kMaxContextTokens = int64_t{1} << 24;
inline constexpr int64_t kMaxBatch = 4096;

// Errors name the field and value: every field must be positive, context and
// batch at most the limits above, the KV element size one of 1, 2, 4.
Status validate_plan_request(const PlanRequest& request);

}  // namespace ql::quant
