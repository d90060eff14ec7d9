#pragma once
// Grouped tensor-core product for the MoE experts in prefill (groups = experts)
// and for one quantized dense weight (groups = 1), reading every weight format
// and decoding tiles on the fly (docs/gpu-backend.md, "Matrix products").
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

// For each group g and each pair p in [offsets[g], offsets[g+1]) (offsets: device int32 [groups+1],
// offsets[groups] == total_pairs):
//   plain:  y[p, o] = x[rows[p], :] . W_g[o, :]                               for o < w.rows
//   swiglu: y[p, j] = silu(x[rows[p]] . W_g[j]) * (x[rows[p]] . W_g[I + j])  for j < I = w.rows / 2
//           (silu(z) = z / (1 + exp(-z)))
// y fp32 [total_pairs, out columns] with stride ldy; x fp32 with stride ldx (K = w.cols columns).
// rows: device int32 [total_pairs] (the x row of each pair); rows == nullptr means rows[p] = p.
// W_g = matrix g of the stack when w.stack == groups, else matrix 0 for every group (w.stack == 1).
// max_rows_per_group: a host-known bound on every group's size (total_pairs will do); the grid is sized
// from it, so a larger group would be left partly unwritten.
// W elements are decoded exactly as weight_element() and rounded to bf16 (kF16 weights: f16, with x
// rounded to f16 too); x is rounded to bf16 as it is staged; products accumulate in fp32 on tensor cores.
// No atomics; the summation order is fixed (deterministic).
// Fast path (cp.async pipeline): x 16-byte aligned with ldx % 4 == 0, and K % 8 == 0 (bf16/f16),
// K % 16 == 0 (int8, nf4), data/codes 16-byte / packed 8-byte aligned (packed_stride % 8 == 0),
// NF4 K <= 16384; anything else (and kF32 weights) takes a correct, slower path.
cudaError_t launch_grouped_gemm(const DeviceWeight& w, const float* x, int64_t ldx, const int32_t* rows,
                                const int32_t* offsets, int64_t groups, int64_t total_pairs,
                                int64_t max_rows_per_group, bool swiglu, float* y, int64_t ldy,
                                cudaStream_t stream);

}  // namespace ql::gpu
