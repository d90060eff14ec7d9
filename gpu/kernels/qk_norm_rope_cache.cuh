#pragma once
// The fused per-head q/k RMSNorm + rotary + KV-cache write of the text
// attention (docs/gpu-backend.md, "Attention"), bit-compatible with the CPU
// backend's rms_norm (core/backend/cpu_norms.cpp: sum of squares in double,
// 1/sqrt in double rounded to fp32, then w * (x * inv) in fp32) followed by
// its rope (core/backend/cpu_rope.cpp: each product and sum rounded to fp32
// separately, no FMA). The one difference: the double sum of squares is
// added in a tree rather than left to right (both exact-product doubles; the
// fp32 result differs only if the two double sums round apart).
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

// q: in place, each head of each row: q = rope(rmsnorm(q_head) * q_norm);
// k_cache[write_rows[i]] = bf16(rope(rmsnorm(k_head) * k_norm)); v_cache[write_rows[i]] = bf16(v[i])   (i < n).
// rmsnorm(x) = x * (1 / sqrt(mean(x^2) + eps)) in fp32, then times the weight (q_norm/k_norm: DeviceWeight vectors,
// rows 1, cols head_dim, format kF32/kBF16/kF16 — decode with weight_element(w, 0, 0, c)). Exactly
// core/backend/cpu_norms.cpp's rms_norm (read it for the order of operations) followed by core/backend/cpu_rope.cpp's rope:
// x' = x*cos + rotate_half(x)*sin, rotate_half(v) = [-v[d/2:], v[:d/2]], cos/sin fp32 [n, head_dim] (stride head_dim).
// Rounding to bf16: round to nearest even. head_dim even, in [2, 256].
// k_cache, v_cache: bf16 [capacity, kv_heads*head_dim], row stride ld_kv. A negative write_rows[i] writes nothing
// to the cache for row i (q is still normed). Rows of q, k, v may be column ranges of one fused buffer.
cudaError_t launch_qk_norm_rope_cache(float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                                      int64_t n, int heads, int kv_heads, int head_dim, const DeviceWeight& q_norm,
                                      const DeviceWeight& k_norm, float eps, const float* cos, const float* sin,
                                      const int32_t* write_rows, void* k_cache, void* v_cache, int64_t ld_kv,
                                      cudaStream_t stream);

}  // namespace ql::gpu
