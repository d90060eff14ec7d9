#pragma once
// MoE token grouping for the prefill expert products (docs/gpu-backend.md,
// "MoE"): the (token, slot) pairs sorted by expert, stable, so every run gives
// the same pair order and launch_grouped_gemm the same results; and the
// weighted sum of each token's expert outputs in slot order.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace ql::gpu {

// Bytes of `scratch` launch_moe_group needs.
size_t moe_group_scratch_bytes(int64_t n, int top_k, int experts);

// From the routed ids [n, top_k] (device int32, each in [0, experts); an id out of range is clamped into it
// so no write goes out of bounds): group the n*top_k (token, slot) pairs by expert.
// offsets[e] (int32 [experts+1]) = first pair index of expert e, offsets[experts] = n*top_k; pairs of one
// expert in ascending t*top_k + s order; rows[p] = token of pair p; pos[t*top_k + s] = p.
// No atomics (a stable counting sort). n*top_k < 2^31.
cudaError_t launch_moe_group(const int32_t* ids, int64_t n, int top_k, int experts, int32_t* offsets, int32_t* rows,
                             int32_t* pos, void* scratch, cudaStream_t stream);

// out[t, :] = (accumulate ? out[t, :] : 0) + sum over s < top_k, in order, of weights[t*top_k+s] * y[pos[t*top_k+s], :]
// (fp32; each step rounds the product, then the sum: no FMA). y [*, H] stride ldy, out [n, H] stride ldo.
cudaError_t launch_moe_combine(const float* y, int64_t ldy, const int32_t* pos, const float* weights, int64_t n,
                               int top_k, int64_t H, float* out, int64_t ldo, bool accumulate, cudaStream_t stream);

}  // namespace ql::gpu
