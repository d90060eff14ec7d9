#pragma once
// Every weight of the model, handed to the backend (one HostWeight each, read
// from the mmapped checkpoint). Fused tensors are split here: the vision qkv
// into q, k and v; the fused experts into one weight per expert, in
// nn.Linear orientation whatever the checkpoint's orientation.
#include <atomic>
#include <functional>
#include <vector>

#include "core/backend/backend.h"
#include "core/common/result.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"
#include "core/model/tensor_validation.h"

namespace ql::model {

using backend::MoeWeights;
using backend::WeightPtr;

struct LinearWeights {
  WeightPtr w, b;  // b may be null
};

struct VisionBlockWeights {
  WeightPtr norm1_w, norm1_b, norm2_w, norm2_b;
  LinearWeights q, k, v, proj, fc1, fc2;
};

struct MergerWeights {
  WeightPtr norm_w, norm_b;
  LinearWeights fc1, fc2;
};

struct DenseMlpWeights {
  WeightPtr gate, up, down;
};

struct TextLayerWeights {
  WeightPtr input_norm, post_norm, q, k, v, o, q_norm, k_norm;
  bool is_moe = true;
  MoeWeights moe;
  DenseMlpWeights mlp;
};

struct ModelWeights {
  LinearWeights patch_embed;  // Conv3d as a linear over one patch
  WeightPtr pos_embed;
  std::vector<VisionBlockWeights> blocks;
  MergerWeights merger;
  std::vector<MergerWeights> deepstack;
  WeightPtr embed_tokens, final_norm, lm_head;
  std::vector<TextLayerWeights> layers;
  size_t bytes = 0;  // checkpoint bytes of all tensors handed over
};

using WeightProgress = std::function<void(double fraction)>;

// `report` must come from validate_checkpoint and be ok().
Result<ModelWeights> load_model_weights(const ModelConfig& config, const Checkpoint& checkpoint,
                                        const ValidationReport& report, backend::Backend& backend,
                                        const WeightProgress& progress, const std::atomic<bool>* cancel);

}  // namespace ql::model
