#pragma once
// GPU memory besides weights and KV cache: the buffers of the largest step
// the engine takes. Buffers are planned once per (batch, context) shape, so
// the estimate is the SUM of every buffer a step uses (not the peak of what
// is live at one instant): conservative by construction.
//
// Element sizes: activations in the backend's activation dtype
// (PlanRequest::activation_bytes: fp32 on both backends); attention scores,
// router probabilities, logits and indices in 4 bytes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/model/model_config.h"
#include "core/quant/plan_request.h"

namespace ql::quant {

enum class WorkspaceStep { kLoading, kVision, kPrefill, kDecode };
inline constexpr size_t kWorkspaceStepCount = 4;
std::string_view workspace_step_name(WorkspaceStep step);  // "loading", "vision", "prefill", "decode"

inline constexpr int64_t kFp32Bytes = 4;

struct WorkspaceEstimate {
  std::array<uint64_t, kWorkspaceStepCount> step_bytes{};

  uint64_t operator[](WorkspaceStep s) const { return step_bytes[static_cast<size_t>(s)]; }
  WorkspaceStep largest() const;
  uint64_t peak() const { return (*this)[largest()]; }
};

// Patches of the largest image: both sides are multiples of patch * merge
// with an area of at most max_pixels (smart_resize), one temporal patch.
int64_t max_image_patches(const model::VisionConfig& vision, int64_t max_pixels);

// `request` must pass validate_plan_request.
WorkspaceEstimate estimate_workspace(const model::ModelConfig& config, const PlanRequest& request);

}  // namespace ql::quant
