#pragma once
// Every weight of the model, handed to the backend one tensor at a time from
// a weight source (the mmapped checkpoint, or a synthetic one), each in the
// format a precision policy gives it (weight_upload.h). The vision qkv splits
// into q, k and v; each fused expert tensor becomes one stacked weight (one
// matrix per expert), in nn.Linear orientation whatever the stored one.
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/backend/backend.h"
#include "core/common/result.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"
#include "core/model/tensor_validation.h"
#include "core/model/weight_load_options.h"
#include "core/model/weight_source.h"
#include "core/quant/dense16.h"

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
  // Weight::stored_bytes of every weight (a tied lm_head sharing the embedding once).
  size_t bytes = 0;
  // What converting to fp16 lost, summed over the tensors converted (zero when none were).
  quant::Dense16Report fp16_losses;
};

using WeightProgress = std::function<void(double fraction)>;

// For a checkpoint, `checkpoint` and `report` (from validate_checkpoint, ok())
// are given; a synthetic source has neither. Errors name the tensor (and
// expert): missing, not finite where it is being converted, or refused by the
// backend; a cancelled load returns kCancelledMessage.
Result<ModelWeights> load_model_weights(const ModelConfig& config, const WeightSource& source,
                                        const Checkpoint* checkpoint, const ValidationReport* report,
                                        backend::Backend& backend, const WeightLoadOptions& options,
                                        const WeightProgress& progress, const std::atomic<bool>* cancel);

}  // namespace ql::model
