#pragma once
// CUDA (and cuBLAS) return codes as core Results, naming what failed.
#include <cuda_runtime.h>

#include <string>

#include "core/common/result.h"

namespace ql::gpu {

inline Status cuda_status(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return {};
  if (e == cudaErrorMemoryAllocation)
    return err("out of GPU memory: {} ({})", what, cudaGetErrorString(e));
  return internal_err("CUDA: {}: {}", what, cudaGetErrorString(e));
}

}  // namespace ql::gpu

#define QL_CUDA_TRY(call, what)                                              \
  do {                                                                       \
    ::ql::Status ql_cuda_st_ = ::ql::gpu::cuda_status((call), (what));       \
    if (!ql_cuda_st_.ok()) return ql_cuda_st_.error();                       \
  } while (0)
