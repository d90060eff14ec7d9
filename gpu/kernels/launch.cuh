#pragma once
// Conventions of every kernel's launch function (one op per .cu/.cuh pair):
// plain arguments (device pointers, sizes, a stream), no core header, and the
// launch's own error returned, so the host side can turn it into a message.
#include <cuda_runtime.h>

namespace ql::gpu {

inline cudaError_t launch_status() { return cudaGetLastError(); }

inline unsigned blocks_for(long long n, int threads, long long cap = 65535LL * 16) {
  long long b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < cap ? b : cap);
}

}  // namespace ql::gpu
