#pragma once
// Loading is quantizing, on the GPU (docs/gpu-backend.md, "Loading"): a
// HostWeight's source bytes stream from the (mmapped) checkpoint through
// pinned, double-buffered staging into a device staging buffer, and kernels
// convert or quantize them there into the weight's final storage, writing
// exactly the bytes core/quant would (gpu/kernels/quantize_*.cu). A
// synthetic source is generated straight into the staging buffer. Already
// quantized weights (bitsandbytes folders) are copied as they are.
#include <memory>

#include <cuda_runtime.h>

#include "core/backend/backend.h"
#include "core/common/result.h"
#include "core/quant/dense16.h"
#include "gpu/cuda_tensor.h"
#include "gpu/device_memory.h"

namespace ql::gpu {

class WeightUploader {
 public:
  WeightUploader(cudaStream_t stream, CountersPtr counters);
  ~WeightUploader();
  WeightUploader(const WeightUploader&) = delete;
  WeightUploader& operator=(const WeightUploader&) = delete;

  Result<std::shared_ptr<CudaWeight>> upload(const backend::HostWeight& w, quant::Dense16Report* fp16_losses);

  // Frees the staging buffers (after the last weight of a load).
  void release_staging();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ql::gpu
