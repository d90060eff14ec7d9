#pragma once
// What llama-quantize (src/llama-quant.cpp, no imatrix, default options)
// makes of the converter's BF16 file for Q4_K_M, Q4_0 and IQ4_NL: the tensor
// order (sorted by layer, then name), the type of each tensor (the mix's
// per-category overrides, the 8-expert bumps, use_more_bits, and the
// fallback chain for rows that are not whole blocks), and the tensors it
// would refuse. docs/formats.md §4.4.
#include <string>
#include <vector>

#include "core/io/gguf/ggml_types.h"

namespace ql::io::gguf {

struct QuantizeModel {
  int n_layer = 0;   // block_count
  int n_expert = 0;  // expert_count (0 or 1: dense)
  int n_head = 0, n_head_kv = 0;
};

struct QuantizeInput {
  std::string name;
  std::vector<int64_t> ne;
  GgmlType type = GgmlType::kBF16;  // as in the converter's BF16 file
};

struct QuantizeChoice {
  GgmlType type = GgmlType::kF32;
  // Set where llama-quantize would stop with an error (a type with no
  // fallback for this row length); the tensor is then written as F16.
  std::string refused;
};

// llama_model_loader's tensor order: tensors outside blocks first, then
// block 0, 1, ...; by name within each.
bool llama_quantize_order(const std::string& a, const std::string& b);

// Types for `tensors`, which must already be in llama_quantize_order (the
// attn_v counter runs in that order). `ftype` is kMostlyQ4_K_M, kMostlyQ4_0 or kMostlyIQ4_NL.
std::vector<QuantizeChoice> llama_quantize_types(const std::vector<QuantizeInput>& tensors, LlamaFtype ftype,
                                                 const QuantizeModel& model);

}  // namespace ql::io::gguf
