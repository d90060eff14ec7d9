#include "core/quant/tensor_precision.h"

namespace ql::quant {

using model::Component;
using model::TensorKind;

PolicyKey policy_key_for(Component component) {
  switch (component) {
    case Component::kVision: return PolicyKey::kVision;
    case Component::kAttention: return PolicyKey::kAttention;
    case Component::kRouter: return PolicyKey::kRouter;
    case Component::kExperts: return PolicyKey::kExperts;
    case Component::kDenseMlp: return PolicyKey::kExperts;
    case Component::kTextNorms: return PolicyKey::kNorms;
    case Component::kEmbeddings: return PolicyKey::kEmbeddings;
    case Component::kLmHead: return PolicyKey::kLmHead;
  }
  return PolicyKey::kNorms;
}

bool is_quantizable_matrix(const model::TensorSpec& spec) {
  if (spec.kind != TensorKind::kPlain) return true;  // fused experts
  if (spec.component == Component::kTextNorms) return false;
  // Biases and norms are 1-D, the Conv3d patch embedding 5-D. The position
  // table is 2-D but is interpolated and added, never multiplied.
  return spec.shape.size() == 2 && spec.name != "model.visual.pos_embed.weight";
}

QuantFormat tensor_format(const PrecisionPolicy& policy, const model::TensorSpec& spec) {
  if (!is_quantizable_matrix(spec)) return policy[PolicyKey::kNorms];
  return policy[policy_key_for(spec.component)];
}

}  // namespace ql::quant
