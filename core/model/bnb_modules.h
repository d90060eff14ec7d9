#pragma once
// Which tensors of Qwen3-VL-MoE a bitsandbytes checkpoint holds quantized
// (docs/formats.md §6.1): transformers replaces every nn.Linear whose module name
// the skip list does not match. Under transformers 5 that is the text
// attention projections, the dense MLP of mlp_only layers, and every Linear
// of the vision tower (blocks, merger, DeepStack mergers). Not Linear, so
// 16-bit: embeddings, norms, the vision patch embedding (Conv3d) and position
// table, biases, the router (an nn.Parameter) and the fused experts (3-D
// Parameters). lm_head is Linear but skipped by default.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/tensor_schema.h"

namespace ql::model {

// The module name ("model.language_model.layers.0.self_attn.q_proj") when
// `spec` is the weight of an nn.Linear, else "".
std::string linear_module_of(const TensorSpec& spec);

// transformers 5's skip test for one entry `k` of llm_int8_skip_modules: the
// module name starts with `k` or ends with `k`. (transformers treats `k` as a
// regular expression anchored at the start; the names used in practice have
// no special characters but '.', which then matches itself as well, so a
// literal comparison gives the same result.)
bool bnb_skip_matches(std::string_view module, const std::vector<std::string>& skip_modules);

struct BnbModule {
  std::string name;          // module name; its tensors are name + ".weight", ".SCB", ...
  const TensorSpec* weight;  // the schema's "<name>.weight" (16-bit shape [rows, cols])
  int64_t rows = 0;          // out_features
  int64_t cols = 0;          // in_features
};

// Every quantized module of `schema`, in schema order. The pointers point
// into `schema`.
std::vector<BnbModule> bnb_quantized_modules(const std::vector<TensorSpec>& schema,
                                             const std::vector<std::string>& skip_modules);

}  // namespace ql::model
