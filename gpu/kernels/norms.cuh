#pragma once
// RMSNorm and LayerNorm on the GPU, matching core/backend/cpu_norms.cpp
// (docs/gpu-backend.md, "Small ops"). Both take fp32 row-major contiguous x
// [rows, cols] and vector weights (DeviceWeight of 1 row, read with
// weight_element). The statistics are summed in double as the CPU sums them;
// only the summation ORDER differs (a tree over threads instead of a serial
// loop), so results equal the CPU's except where that last-bit difference of a
// double sum moves the fp32 rounding of the scale (rare; then 1 fp32 ulp).
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

// RMSNorm over each group of `group` consecutive columns (group == cols: the
// whole row; group == head_dim: per head), weight of length `group`:
//   inv = fp32(1 / sqrt(sum_sq / group + eps))   (sum_sq of x^2 in double)
//   out = w * (x * inv)                          (two fp32 roundings)
// x and out may alias (exactly, not partially). group must divide cols.
cudaError_t launch_rms_norm(const float* x, int64_t rows, int64_t cols, int64_t group, const DeviceWeight& w,
                            float eps, float* out, cudaStream_t stream);

// LayerNorm over whole rows (torch's biased variance, two passes as the CPU):
//   mean = sum(x) / cols, var = sum((x - mean)^2) / cols   (double)
//   out  = fp32((x - mean) * (1 / sqrt(var + eps))) * w + b (fp32 mul, then add)
// w and b are vectors of length cols. x and out may alias.
cudaError_t launch_layer_norm(const float* x, int64_t rows, int64_t cols, const DeviceWeight& w,
                              const DeviceWeight& b, float eps, float* out, cudaStream_t stream);

}  // namespace ql::gpu
