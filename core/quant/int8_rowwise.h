#pragma once
// LLM.int8 weights as bitsandbytes stores them (docs/formats.md §6.2, §7.1): one
// int8 code per element and one fp32 scale (SCB) per output row.
//   W16    = fp16(W)                       (bitsandbytes casts to fp16 first, even from bf16)
//   SCB[r] = max_c |W16[r, c]|             (an fp16 value, stored as fp32)
//   CB     = round_half_even(W16 * (127 / SCB[r]))
//   W     ~= CB * SCB[r] / 127
// A row that is all zero has SCB 0 and codes 0 (bitsandbytes would divide by
// zero); it dequantizes to exact zeros.
#include <cstdint>
#include <vector>

#include "core/common/result.h"
#include "core/quant/source_tensor.h"

namespace ql::quant {

struct Int8RowwiseWeight {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int8_t> codes;  // "P.weight": CB, row-major [rows, cols]
  std::vector<float> scb;     // "P.SCB": [rows]
  SourceDType source_dtype = SourceDType::kBF16;
};

// fp32(1/127): bitsandbytes dequantizes by multiplying with this constant
// (7.874015718698502e-3) rather than dividing by 127. CB * SCB is exact in
// fp32 (a 7-bit code times an 11-bit fp16 mantissa), so multiplying by it
// rounds once and reproduces bitsandbytes' dequantized values bit for bit.
inline constexpr float kInv127 = 1.0f / 127.0f;

// Errors (naming the tensor and element): empty shape, NaN or infinity, or a
// value beyond fp16's range (it would become an infinite SCB).
Result<Int8RowwiseWeight> quantize_int8_rowwise(const SourceTensor& src, int threads = 0);

// Rows [first_row, first_row + rows) dequantized to fp32, row-major.
void decode_rows(const Int8RowwiseWeight& w, int64_t first_row, int64_t rows, float* out);

}  // namespace ql::quant
