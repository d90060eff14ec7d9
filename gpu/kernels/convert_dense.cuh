#pragma once
// Dense weights converted while loading (docs/gpu-backend.md, "Loading"): the
// checkpoint's fp32 / bf16 / fp16 source into the device's fp32 / bf16 / fp16
// storage, the same bits core/quant/dense16.cpp writes on the CPU
// (round-to-nearest-even, core/common/float16.h).
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/quantize_source.cuh"

namespace ql::gpu {

// target: 0 fp32, 1 bf16, 2 fp16 (WFormat's numbering). out: [stack][rows][cols] row-major in (r, c) order, aligned to
// the target's element size (cudaErrorMisalignedAddress otherwise). Transposed sources are transposed through shared
// memory; same-type copies (bf16 -> bf16) give back the source bits. problems: first_nonfinite for a NaN or infinity
// in the source (the element is still written, as float16.h converts it); for the 16-bit targets the Dense16Report
// counts (overflowed_to_inf, flushed_to_zero, became_subnormal) added to the struct's.
// Fast path: source and out 16-byte aligned, not transposed.
cudaError_t launch_convert_dense(const SourceMatrices& src, int32_t target, void* out, QuantizeProblems* problems,
                                 cudaStream_t stream);

}  // namespace ql::gpu
