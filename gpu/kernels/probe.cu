#include "gpu/kernels/probe.cuh"

namespace ql::gpu {
namespace {
__global__ void probe_kernel(int* out) { *out = 42; }
}  // namespace

cudaError_t probe_kernel_image() {
  int* p = nullptr;
  cudaError_t e = cudaMalloc(&p, sizeof(int));
  if (e != cudaSuccess) return e;
  probe_kernel<<<1, 1>>>(p);
  e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  int v = 0;
  if (e == cudaSuccess) e = cudaMemcpy(&v, p, sizeof v, cudaMemcpyDeviceToHost);
  cudaFree(p);
  if (e == cudaSuccess && v != 42) e = cudaErrorUnknown;
  return e;
}

}  // namespace ql::gpu
