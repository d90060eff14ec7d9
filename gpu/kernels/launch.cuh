#pragma once
// Conventions of every kernel's launch function (one op per .cu/.cuh pair):
// plain arguments (device pointers, sizes, a stream), no core header, and the
// launch's own error returned, so the host side can turn it into a message.
#include <cuda_runtime.h>

#include <atomic>

namespace ql::gpu {

inline cudaError_t launch_status() { return cudaGetLastError(); }

inline unsigned blocks_for(long long n, int threads, long long cap = 65535LL * 16) {
  long long b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < cap ? b : cap);
}

// Multiprocessors of the current device (cached per device; 132, an H100's, if it cannot be
// read): launch functions size grids that must fill the GPU with it.
inline int device_sm_count() {
  static std::atomic<int> cached[64];
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return 132;
  int v = cached[dev].load(std::memory_order_relaxed);
  if (v <= 0) {
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || v <= 0) v = 132;
    cached[dev].store(v, std::memory_order_relaxed);
  }
  return v;
}

}  // namespace ql::gpu
