#pragma once
// The tensors one quantized Linear module `P` occupies in a bitsandbytes
// checkpoint (docs/formats.md §6.2, §6.3); its bias, if any, stays a plain 16-bit
// tensor. Shared by the reader (validation, loading) and the exporter, so
// the two agree on every name, dtype and shape.
//   LLM.int8:  P.weight I8 [out, in], P.SCB F32 [out], P.weight_format U8 [] (= 0, "row")
//   NF4:       P.weight U8 [ceil(n/2), 1], P.weight.absmax U8 [ceil(n/64)],
//              P.weight.quant_map F32 [16], P.weight.nested_absmax F32 [ceil(blocks/256)],
//              P.weight.nested_quant_map F32 [256],
//              P.weight.quant_state.bitsandbytes__nf4 U8 [JSON bytes]        (n = out * in)
#include <cstdint>
#include <string>
#include <vector>

#include "core/model/dtype.h"
#include "core/quant/quantized_weight.h"

namespace ql::model {

// What each tensor of a module holds, so code can find one without string tests.
// kCodes is P.weight in both formats; kScb, kWeightFormat are int8's, the rest nf4's.
enum class BnbRole {
  kCodes,
  kScb,
  kWeightFormat,
  kAbsmaxCodes,
  kQuantMap,
  kNestedAbsmax,
  kNestedQuantMap,
  kQuantState,
};

struct BnbTensorSpec {
  std::string name;
  BnbRole role = BnbRole::kCodes;
  DType dtype = DType::kU8;
  std::vector<int64_t> shape;  // kQuantState: [json_bytes], or [-1] when the length is not known
  bool optional = false;       // P.weight_format: transformers' loader tolerates its absence
};

inline constexpr const char* kNf4QuantStateSuffix = ".weight.quant_state.bitsandbytes__nf4";
inline constexpr const char* kFp4QuantStateSuffix = ".weight.quant_state.bitsandbytes__fp4";

// The tensors of module `module` with weight shape [rows, cols] in `format`
// (kInt8Rowwise or kNf4), in the order of the tables above.
// `quant_state_bytes`: the NF4 quant-state JSON's length; -1 = unknown.
std::vector<BnbTensorSpec> bnb_module_tensors(quant::QuantFormat format, const std::string& module, int64_t rows,
                                              int64_t cols, int64_t quant_state_bytes = -1);

// Number of NF4 blocks of 64 and of nested blocks of 256 for n elements.
int64_t nf4_block_count(int64_t numel);
int64_t nf4_nested_block_count(int64_t numel);

}  // namespace ql::model
