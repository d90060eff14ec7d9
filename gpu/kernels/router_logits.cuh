#pragma once
// MoE router logits for many tokens, in fp32 (docs/gpu-backend.md, "MoE"):
//   logits[t, e] = sum_c x[t, c] * W[e, c]
// with W's 16-bit or fp32 elements widened exactly and fp32 multiply-adds.
// Why not the dense GEMM: it rounds x to 16 bits for the tensor cores, an
// error of about 2^-9 of each input, and where two experts' logits nearly tie
// that is enough to pick the other one, which changes the token's whole MoE
// output (the CPU backend and transformers route in fp32). The router is
// small (experts x hidden), so fp32 arithmetic costs little.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

// w: kF32, kBF16 or kF16, stack 1 (a row view is allowed); x fp32 [n, w.cols]
// (row stride ldx); logits fp32 [n, w.rows] (row stride ldl). Any n >= 0.
// Few tokens are split over the columns (the partial sums added in a fixed
// order): scratch must hold router_logits_scratch_bytes(n, w.rows, w.cols)
// bytes of device memory (0: none needed, scratch may be null).
// Errors: cudaErrorInvalidValue for a quantized format, bad arguments or too
// little scratch (nothing launched), else the launch's.
size_t router_logits_scratch_bytes(int64_t n, int64_t experts, int64_t cols);
cudaError_t launch_router_logits(const DeviceWeight& w, const float* x, int64_t ldx, int64_t n, float* logits,
                                 int64_t ldl, void* scratch, size_t scratch_bytes, cudaStream_t stream);

}  // namespace ql::gpu
