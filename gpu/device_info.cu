#include "gpu/device_info.h"

#include <cuda_runtime.h>

namespace ql::gpu {

Result<DeviceInfo> query_device(int index) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) return internal_err("CUDA: no device: {}", cudaGetErrorString(e));
  if (index < 0 || index >= count) return err("CUDA device {} does not exist ({} found)", index, count);
  cudaDeviceProp prop{};
  e = cudaGetDeviceProperties(&prop, index);
  if (e != cudaSuccess) return internal_err("CUDA: cannot read device {}: {}", index, cudaGetErrorString(e));
  DeviceInfo info;
  info.index = index;
  info.name = prop.name;
  info.sm_major = prop.major;
  info.sm_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  e = cudaSetDevice(index);
  if (e != cudaSuccess) return internal_err("CUDA: cannot select device {}: {}", index, cudaGetErrorString(e));
  e = cudaMemGetInfo(&info.free_bytes, &info.total_bytes);
  if (e != cudaSuccess) return internal_err("CUDA: cannot read memory of device {}: {}", index, cudaGetErrorString(e));
  return info;
}

}  // namespace ql::gpu
