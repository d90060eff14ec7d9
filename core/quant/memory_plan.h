#pragma once
// The memory planner (docs/architecture.md §5): GPU bytes for a
// model config, a precision policy and a run shape, before anything loads.
//   weights     exact stored bytes of every matrix the loader makes (weight_storage.h)
//   KV cache    2 (K, V) * layers * kv_heads * head_dim * context * batch * element bytes
//   workspace   the largest step's buffers (workspace_estimate.h)
//   runtime     a fixed overhead: CUDA context and cuBLAS workspaces
#include <array>
#include <cstdint>

#include "core/common/result.h"
#include "core/model/model_config.h"
#include "core/model/tensor_schema.h"
#include "core/quant/plan_request.h"
#include "core/quant/precision_policy.h"
#include "core/quant/workspace_estimate.h"

namespace ql::quant {

inline constexpr uint64_t kMiB = uint64_t{1} << 20;
inline constexpr uint64_t kGiB = uint64_t{1} << 30;

// The CUDA context with lazy module loading (about 300-400 MiB on Ada and
// Hopper, our kernels' code included), cuBLAS and cuBLASLt workspaces (32 MiB
// each) and CUDA-graph memory: 512 MiB in all.
inline constexpr uint64_t kRuntimeOverheadBytes = 512 * kMiB;

struct MemoryPlan {
  PrecisionPolicy policy;
  PlanRequest request;
  // Weight bytes per model::Component, indexed by its value.
  std::array<uint64_t, model::kComponentCount> component_bytes{};
  uint64_t weights_bytes = 0;
  uint64_t kv_cache_bytes = 0;
  WorkspaceEstimate workspace;
  uint64_t runtime_overhead_bytes = kRuntimeOverheadBytes;

  uint64_t operator[](model::Component c) const { return component_bytes[static_cast<size_t>(c)]; }
  uint64_t workspace_bytes() const { return workspace.peak(); }
  uint64_t total_bytes() const { return weights_bytes + kv_cache_bytes + workspace_bytes() + runtime_overhead_bytes; }
};

// Stored bytes of every weight under `policy`. A tied lm_head is the
// embedding matrix and costs nothing, unless the policy gives the two
// different formats: then the head is a second, separately stored copy.
std::array<uint64_t, model::kComponentCount> weight_bytes_by_component(const model::ModelConfig& config,
                                                                       const PrecisionPolicy& policy);

uint64_t kv_cache_bytes(const model::TextConfig& text, const PlanRequest& request);

// Errors (from validate_plan_request) name the bad field and its value.
Result<MemoryPlan> plan_memory(const model::ModelConfig& config, const PrecisionPolicy& policy,
                               const PlanRequest& request);

}  // namespace ql::quant
