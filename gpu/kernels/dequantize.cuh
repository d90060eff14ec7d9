#pragma once
// Weight rows decoded to fp32 or bf16 (the input of cuBLASLt for quantized
// weights in prefill), and the embedding lookup. Values are exactly
// weight_element()'s (weight_decode.cuh), i.e. core/quant's decode_rows
// (docs/gpu-backend.md, "Weight formats on the device").
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

// out[r, c] (row-major, stride = w.cols) = weight_element(w, matrix, first_row + r, c)
// for r < rows (view rows: first_row + rows <= w.rows).
cudaError_t launch_dequantize_rows_f32(const DeviceWeight& w, int64_t matrix, int64_t first_row, int64_t rows,
                                       float* out, cudaStream_t stream);

// The same values rounded to bf16 (round to nearest even, NaN kept quiet, as
// core/common/float16.h's f32_to_bf16). `out` is __nv_bfloat16*.
cudaError_t launch_dequantize_rows_bf16(const DeviceWeight& w, int64_t matrix, int64_t first_row, int64_t rows,
                                        void* out, cudaStream_t stream);

// Embedding lookup: out[i, :] = row ids[i] of matrix 0 of w as fp32 (row stride
// ldo >= w.cols), i < n; an id outside [0, w.rows) gives a row of zeros (never
// an out-of-bounds read).
cudaError_t launch_embed(const DeviceWeight& w, const int32_t* ids, int64_t n, float* out, int64_t ldo,
                         cudaStream_t stream);

}  // namespace ql::gpu
