#pragma once
// Reading the quant-state JSON of an NF4 module
// ("P.weight.quant_state.bitsandbytes__nf4", docs/formats.md §6.3), e.g.
//   {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4096, 2048],
//    "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0123}
// Keys may come in any order (bitsandbytes' loader accepts any); every value
// must be the one QuantLens's NF4 layout has (core/quant/nf4.h).
#include <cstdint>
#include <string>
#include <string_view>

#include "core/common/result.h"
#include "core/quant/source_tensor.h"

namespace ql::model {

struct Nf4QuantState {
  quant::SourceDType dtype = quant::SourceDType::kBF16;  // the weight's dtype before quantizing
  int64_t rows = 0;
  int64_t cols = 0;
  float nested_offset = 0.0f;  // the fp32 mean of the block absmax, written as a Python float
};

// Errors start with `tensor` and name the key at fault: not JSON, not an
// object, quant_type other than "nf4" (e.g. "fp4"), blocksize other than 64,
// an unknown dtype, a shape other than [rows, cols], no double quantization
// (nested_* absent) or nested values other than 256 / "float32", a
// non-finite or non-fp32 nested_offset.
Result<Nf4QuantState> parse_nf4_quant_state(std::string_view json_text, const std::string& tensor, int64_t rows,
                                            int64_t cols);

}  // namespace ql::model
