#pragma once
// y = x . W^T for a weight stored in any format that can decode rows to fp32:
// each thread decodes a few rows of W at a time into a small fp32 buffer and
// multiplies every row of x against them, so no dequantized copy of W exists.
#include <cstdint>
#include <functional>

#include "core/common/result.h"

namespace ql::quant {

// Writes rows [first_row, first_row + rows) of W as fp32, row-major.
using RowDecoder = std::function<void(int64_t first_row, int64_t rows, float* out)>;

// x row-major [n, cols], W [rows, cols], y row-major [n, rows]. Fails only when
// out of memory. threads: 0 = one per hardware thread.
Status decoded_rows_matmul(const float* x, int64_t n, int64_t rows, int64_t cols, const RowDecoder& decode,
                           float* y, int threads = 0);

}  // namespace ql::quant
