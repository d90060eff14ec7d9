#pragma once
// What the CUDA runtime says about the GPU: name, memory (cudaMemGetInfo, so no
// NVML is needed at build time), multiprocessors and compute capability.
#include <cstddef>
#include <string>

#include "core/common/result.h"

namespace ql::gpu {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int sm_major = 0;
  int sm_minor = 0;
  int multiprocessors = 0;
  size_t total_bytes = 0;
  size_t free_bytes = 0;
};

Result<DeviceInfo> query_device(int index = 0);

}  // namespace ql::gpu
