#pragma once
// Which format each tensor of the schema gets under a precision policy.
// Only matrices of linear layers (and the embedding table) are quantized;
// norms, biases, the vision patch embedding (a Conv3d) and the vision position
// table always take the policy's 16-bit "norms" dtype, whatever their
// component's format: they are tiny, and errors in them touch every token.
#include "core/model/tensor_schema.h"
#include "core/quant/precision_policy.h"

namespace ql::quant {

// The policy key that governs a component's matrices (dense_mlp -> experts,
// text_norms -> norms).
PolicyKey policy_key_for(model::Component component);

// True for the tensors a policy may quantize: 2-D weights of linear layers,
// the fused experts, and the embedding table.
bool is_quantizable_matrix(const model::TensorSpec& spec);

QuantFormat tensor_format(const PrecisionPolicy& policy, const model::TensorSpec& spec);

}  // namespace ql::quant
