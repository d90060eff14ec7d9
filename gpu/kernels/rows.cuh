#pragma once
// Row movement on the GPU, matching core/backend/cpu_rows.cpp
// (docs/gpu-backend.md, "Small ops"): scatter (set, add, into bf16), gather,
// and weighted sums of table rows. Row index tensors are device int32 [n]
// (the caller guarantees every index is in range); activations fp32 with row
// strides in elements. src and dst/out never overlap.
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

// dst[rows[i], :] = src[i, :] for i in [0, n). src [n, cols] (stride lds),
// dst [*, cols] (stride ldd). A repeated target row ends with its LAST source
// row, as the CPU's in-order copies.
cudaError_t launch_scatter_rows(const float* src, int64_t lds, const int32_t* rows, int64_t n, int64_t cols,
                                float* dst, int64_t ldd, cudaStream_t stream);

// dst[rows[i], :] += src[i, :]. A repeated target row adds its source rows in
// source order (the CPU's order), so results are deterministic.
cudaError_t launch_scatter_add_rows(const float* src, int64_t lds, const int32_t* rows, int64_t n, int64_t cols,
                                    float* dst, int64_t ldd, cudaStream_t stream);

// As launch_scatter_rows into a bf16 destination (uint16 bits, stride ldd in
// elements), each value rounded to nearest even as ql::f32_to_bf16 (the KV cache).
cudaError_t launch_scatter_rows_bf16(const float* src, int64_t lds, const int32_t* rows, int64_t n, int64_t cols,
                                     void* dst, int64_t ldd, cudaStream_t stream);

// out[i, :] = src[rows[i], :]; out [n, cols] (stride ldo).
cudaError_t launch_gather_rows(const float* src, int64_t lds, const int32_t* rows, int64_t n, int64_t cols,
                               float* out, int64_t ldo, cudaStream_t stream);

// out[i, :] += sum_j weights[i, j] * table[indices[i, j], :] for j in [0, k) in
// order: per column, sum = 0; sum = sum + w * t (fp32, no FMA) for each j; then
// out = out + sum (cpu_rows.cpp add_weighted_rows). indices int32 [n, k],
// weights fp32 [n, k], both contiguous; table = matrix 0 of a weight of any
// format, table.cols columns; out [n, table.cols] (stride ldo).
cudaError_t launch_add_weighted_rows(const DeviceWeight& table, const int32_t* indices, const float* weights, int64_t n,
                                     int k, float* out, int64_t ldo, cudaStream_t stream);

}  // namespace ql::gpu
