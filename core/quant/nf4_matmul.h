#pragma once
// y = x . W^T reading NF4 weights directly: blocks of rows are decoded into a
// small fp32 buffer per thread (decoded_rows_matmul), then multiplied.
#include <cstdint>

#include "core/common/result.h"
#include "core/quant/nf4.h"

namespace ql::quant {

// x row-major [n, w.cols], y row-major [n, w.rows]. Fails only when out of memory.
Status nf4_matmul(const float* x, int64_t n, const Nf4Weight& w, float* y, int threads = 0);

}  // namespace ql::quant
