#pragma once
// y = x . W^T reading LLM.int8 weights directly (no dequantized copy kept),
// with LLM.int8's outlier decomposition at run time (docs/formats.md §7.1):
//   y[i, o] = acc_int32(xq[i, :] . CB[o, :]) * SCB_x[i] * SCB[o] / 127^2
//           + sum over outlier columns c of x[i, c] * CB[o, c] * SCB[o] / 127   (fp32)
#include <cstdint>

#include "core/common/result.h"
#include "core/quant/int8_activations.h"
#include "core/quant/int8_rowwise.h"

namespace ql::quant {

struct Int8MatmulOptions {
  float outlier_threshold = 6.0f;  // bitsandbytes' llm_int8_threshold; 0 = every column int8
  int threads = 0;                 // 0 = one per hardware thread
};

// x row-major [n, w.cols], y row-major [n, w.rows]. Fails only when out of memory.
Status int8_matmul(const float* x, int64_t n, const Int8RowwiseWeight& w, float* y,
                   const Int8MatmulOptions& options = {});

// The same product for weight rows [first, first + count) only, on the calling
// thread, for callers that run their own threads (the CPU backend). `xq` is x
// quantized ONCE for the whole call (quantize_activations), so however the
// work is split, the outlier columns are those of all of x.
// y[i * ld_y + (o - first)] for i < xq.rows, o in [first, first + count).
// `outlier_weights` has room for xq.outlier_cols.size() floats.
void int8_matmul_rows(const float* x, const QuantizedActivations& xq, const Int8RowwiseWeight& w, int64_t first,
                      int64_t count, float* y, int64_t ld_y, float* outlier_weights);

}  // namespace ql::quant
