#pragma once
// Decode-time products y = x . W^T for a few rows of x (n <= 16), reading the
// weight in its device format (device_weight.h) without a dequantized copy.
// Batch-1 decoding is bound by weight bandwidth: the fast paths stream each
// weight row with 16-byte loads and keep x in shared memory
// (docs/gpu-backend.md, "Decode matvec").
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/device_weight.h"
#include "gpu/kernels/int8_activations.cuh"

namespace ql::gpu {

// One output of a batched matvec launch.
struct MatvecTarget {
  DeviceWeight w;               // the weight (any format)
  int64_t matrix = 0;           // which matrix of w's stack
  const float* bias = nullptr;  // fp32 [w.rows] or null
  float* y = nullptr;           // fp32 [n, w.rows], row stride ldy
  int64_t ldy = 0;
};

constexpr int kMatvecMaxRows = 16;  // n limit
constexpr int kMatvecMaxTargets = 4;

// For each target and i < n, o < w.rows:
//   y[i, o] = (accumulate ? y[i, o] : 0) + bias[o] + sum_c x[i, c] * W[o, c]
// (fp32 adds in that order; without accumulate and bias y is the product itself).
// All targets share x (fp32 [n, cols], row stride ldx; every target has w.cols == cols)
// and are computed by ONE kernel launch (e.g. q, k and v of one layer); targets may
// differ in format. n in [1, kMatvecMaxRows]. `targets` is host memory (copied
// into the kernel parameters).
// kInt8 weights: `xq` must be the LLM.int8 quantization of x
// (launch_quantize_int8_activations; kUnion as core/quant/int8_matmul.cpp uses,
// kPerRow also accepted: each row then uses its own outlier list), and the
// product is exactly core/quant/int8_matmul.cpp's:
//   y = float(int_dot(xq.codes[i, :], CB[o, :])) * ((xq.absmax[i] * scb[o]) * (1/127^2))
//       + sum over the outlier columns c (ascending) of x[i, c] * ((CB[o, c] * scb[o]) * (1/127))
// with every fp32 operation rounded separately (no FMA). The integer dot is exact.
// Other formats: fp32 dot products of x with the decoded weight (weight_decode.cuh
// values); xq may be null.
// Errors: cudaErrorInvalidValue for bad arguments (nothing launched), else the launch's.
cudaError_t launch_matvec(const MatvecTarget* targets, int num_targets, const float* x, int64_t ldx, int64_t n,
                          const Int8Activations* xq, bool accumulate, cudaStream_t stream);

}  // namespace ql::gpu
