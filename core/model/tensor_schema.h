#pragma once
// Every tensor the Qwen3-VL-MoE architecture needs, named and shaped from a
// ModelConfig (docs/model.md §2). The checkpoint is validated against this list
// before any weight is used (tensor_validation.h).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/model_config.h"

namespace ql::model {

// Groups for parameter counts (docs/model.md §2.2). q_norm/k_norm count as attention.
enum class Component { kVision, kAttention, kRouter, kExperts, kDenseMlp, kTextNorms, kEmbeddings, kLmHead };
inline constexpr size_t kComponentCount = 8;
std::string_view component_name(Component c);  // "vision", "attention", ... (snake_case)

// Fused expert tensors have two on-disk orientations (§2.1); validation picks one by shape.
enum class TensorKind { kPlain, kExpertGateUp, kExpertDown };

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // expert tensors: the published [E, in, out] orientation
  Component component = Component::kVision;
  TensorKind kind = TensorKind::kPlain;
  bool optional = false;       // lm_head.weight when word embeddings are tied
};

// Text tensors first (embeddings, layers in order, final norm, lm_head), then vision.
std::vector<TensorSpec> build_tensor_schema(const ModelConfig& config);

}  // namespace ql::model
