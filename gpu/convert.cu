#include "gpu/convert.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace ql::gpu {
namespace {

__global__ void widen_bf16(const __nv_bfloat16* in, float* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    out[i] = __bfloat162float(in[i]);
  }
}

__global__ void widen_f16(const __half* in, float* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    out[i] = __half2float(in[i]);
  }
}

#define QL_CUDA_CHECK(call)                                                          \
  do {                                                                               \
    cudaError_t e_ = (call);                                                         \
    if (e_ != cudaSuccess) return internal_err("CUDA: {}: {}", #call, cudaGetErrorString(e_)); \
  } while (0)

}  // namespace

Status widen_to_f32_roundtrip(Half16 kind, const uint16_t* host_in, float* host_out, size_t n) {
  if (n == 0) return {};
  void* d_in = nullptr;
  float* d_out = nullptr;
  QL_CUDA_CHECK(cudaMalloc(&d_in, n * sizeof(uint16_t)));
  QL_CUDA_CHECK(cudaMalloc(&d_out, n * sizeof(float)));
  QL_CUDA_CHECK(cudaMemcpy(d_in, host_in, n * sizeof(uint16_t), cudaMemcpyHostToDevice));
  const int threads = 256;
  const int blocks = static_cast<int>((n + threads - 1) / threads < 4096 ? (n + threads - 1) / threads : 4096);
  if (kind == Half16::kBF16) {
    widen_bf16<<<blocks, threads>>>(static_cast<const __nv_bfloat16*>(d_in), d_out, n);
  } else {
    widen_f16<<<blocks, threads>>>(static_cast<const __half*>(d_in), d_out, n);
  }
  QL_CUDA_CHECK(cudaGetLastError());
  QL_CUDA_CHECK(cudaMemcpy(host_out, d_out, n * sizeof(float), cudaMemcpyDeviceToHost));
  QL_CUDA_CHECK(cudaFree(d_in));
  QL_CUDA_CHECK(cudaFree(d_out));
  return {};
}

}  // namespace ql::gpu
