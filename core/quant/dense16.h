#pragma once
// 16-bit float weights (bf16 or IEEE fp16), converted from the source with
// round-to-nearest-even as PyTorch's .to(dtype) does. fp16 keeps 3 more
// mantissa bits than bf16 but only reaches 65504 and 2^-24, so the conversion
// reports what it lost: the caller decides whether fp16 is acceptable.
#include <cstdint>
#include <vector>

#include "core/common/result.h"
#include "core/quant/source_tensor.h"

namespace ql::quant {

enum class Dense16Type { kBF16, kF16 };

struct Dense16Weight {
  Dense16Type type = Dense16Type::kBF16;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint16_t> bits;  // row-major [rows, cols]
};

// What the conversion lost, counted over the whole tensor.
struct Dense16Report {
  int64_t overflowed_to_inf = 0;  // finite source values that became +-inf
  int64_t flushed_to_zero = 0;    // non-zero source values that became +-0
  int64_t became_subnormal = 0;   // non-zero source values stored as subnormals (fewer bits)
};

struct Dense16Conversion {
  Dense16Weight weight;
  Dense16Report report;
};

// Errors (naming the tensor): empty shape, NaN or infinity in the source.
Result<Dense16Conversion> quantize_dense16(const SourceTensor& src, Dense16Type type, int threads = 0);

// Rows [first_row, first_row + rows) as fp32, row-major [rows, w.cols].
void decode_rows(const Dense16Weight& w, int64_t first_row, int64_t rows, float* out);

}  // namespace ql::quant
