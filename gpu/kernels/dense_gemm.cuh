#pragma once
// Many-token products with a DENSE weight (kF32 / kBF16 / kF16) through
// cuBLASLt (docs/gpu-backend.md, "Matrix products"): prefill and the vision
// tower. Quantized weights go through launch_grouped_gemm with groups = 1.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

// Handles and workspace owned by the caller (one per stream: the workspace is
// scratch of the launched kernels). The workspace is passed to cuBLAS
// explicitly, so launches can be captured in a CUDA graph.
struct GemmContext {
  void* lt_handle = nullptr;    // cublasLtHandle_t
  void* blas_handle = nullptr;  // cublasHandle_t (fallback for shapes cuBLASLt declines, and kF32)
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Bytes of `scratch` launch_dense_gemm needs: x rounded to 16 bits, rows
// padded to a multiple of 8 elements (16-byte aligned rows for cuBLASLt).
size_t dense_gemm_scratch_bytes(int64_t n, int64_t K);

// y[n, N] = (accumulate ? y : 0) + x[n, K] . W^T (+ bias[N] if not null), W = matrix `matrix` of a DENSE
// DeviceWeight (N = w.rows, K = w.cols, row views allowed). x, y fp32 row-major with strides ldx, ldy.
// kBF16 / kF16: x is rounded (nearest even) to the weight's type into `scratch`, then cuBLASLt with fp32
// accumulation writes fp32 y. kF32: fp32 GEMM with TF32 off (CUBLAS_COMPUTE_32F_PEDANTIC), scratch unused.
// Returns cudaSuccess, a CUDA error of its kernels, cudaErrorInvalidValue for bad arguments, or
// cudaErrorUnknown when cuBLAS fails (then *cublas_status, if not null, holds the cublasStatus_t value).
// Algorithm choices are cached per shape on the host (thread-safe), so the same call always runs the
// same algorithm (deterministic) and a graph capture makes no heuristic query twice.
cudaError_t launch_dense_gemm(const GemmContext& ctx, const DeviceWeight& w, int64_t matrix, const float* x,
                              int64_t ldx, int64_t n, const float* bias, float* y, int64_t ldy, bool accumulate,
                              void* scratch, cudaStream_t stream, int* cublas_status = nullptr);

}  // namespace ql::gpu
