#pragma once
// Rotary position embedding on the GPU, matching core/backend/cpu_rope.cpp
// (NeoX halves; docs/gpu-backend.md, "Small ops").
#include <cstdint>

#include <cuda_runtime.h>

namespace ql::gpu {

// In place, per head of width head_dim (even, dividing cols), half = head_dim / 2:
//   lo = v[d], hi = v[d + half]               for d < half
//   v[d]        = lo * cos[d] - hi * sin[d]
//   v[d + half] = hi * cos[d + half] + lo * sin[d + half]
// each product and the sum rounded to fp32 separately (the CPU's order, no FMA).
// x fp32 [rows, cols] contiguous; cos, sin fp32 [rows, head_dim] contiguous.
cudaError_t launch_rope(float* x, int64_t rows, int64_t cols, const float* cos, const float* sin, int head_dim,
                        cudaStream_t stream);

}  // namespace ql::gpu
