#pragma once
// Element-wise ops and dtype conversions on the GPU, matching
// core/backend/cpu_elementwise.cpp and core/common/float16.h
// (docs/gpu-backend.md, "Small ops"). Every output element depends only on the
// same element of the inputs, so out may alias any input. fp32 arithmetic is
// the CPU's, rounding for rounding (no FMA contraction). The CPU's exp, tanh
// and erf are libm's fp32 functions; here they are evaluated in double and
// rounded once to fp32, i.e. correctly rounded except in ~1e-8 of cases. Where
// libm's fp32 result is itself not correctly rounded the two differ by an
// ulp of that function's value; a CPU that also evaluated them in double would
// agree bit for bit.
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

// out = gate / (1 + exp(-gate)) * up   (silu(gate) * up, the CPU's expression)
cudaError_t launch_swiglu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream);

enum class GeluMode : int { kTanh = 0, kErf = 1 };
// kTanh: out = 0.5 * x * (1 + tanh(k * (x + 0.044715 * x * x * x))), k = fp32(sqrt(fp32(2 / fp32(pi))))
// kErf:  out = 0.5 * x * (1 + erf(x * fp32(1 / fp32(sqrt 2))))
// (fp32 operations left to right, as the CPU writes them.)
cudaError_t launch_gelu(const float* x, int64_t n, GeluMode mode, float* out, cudaStream_t stream);

// out = a + b.
cudaError_t launch_add(const float* a, const float* b, int64_t n, float* out, cudaStream_t stream);

// out[r, c] = out[r, c] + bias[c]; out fp32 [rows, cols] contiguous, bias a
// vector weight (1 row, cols long, any format).
cudaError_t launch_add_bias_rows(float* out, int64_t rows, int64_t cols, const DeviceWeight& bias,
                                 cudaStream_t stream);

// out[i] = value.
cudaError_t launch_fill_f32(float* out, int64_t n, float value, cudaStream_t stream);

// fp32 -> bf16 (uint16 bits), rounded to nearest even; a NaN stays a quiet
// NaN with its sign and top payload bits ((bits >> 16) | 0x40), as ql::f32_to_bf16.
cudaError_t launch_f32_to_bf16(const float* in, int64_t n, void* out, cudaStream_t stream);
// bf16 -> fp32 (exact).
cudaError_t launch_bf16_to_f32(const void* in, int64_t n, float* out, cudaStream_t stream);
// fp32 -> IEEE half (uint16 bits), rounded to nearest even, overflow to inf,
// NaN -> sign | 0x7e00, as ql::f32_to_f16.
cudaError_t launch_f32_to_f16(const float* in, int64_t n, void* out, cudaStream_t stream);

}  // namespace ql::gpu
