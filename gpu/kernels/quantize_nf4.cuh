#pragma once
// NF4 with double quantization, quantized while loading (docs/gpu-backend.md,
// "Loading"): byte for byte what ql::quant::quantize_nf4 writes on the CPU
// (core/quant/nf4.cpp), for each matrix of a stack:
//   blocks of 64 over the FLATTENED [rows, cols] matrix (the last may be short):
//     code = nf4_code(x * fp32(1/absmax)) (x / absmax when 1/absmax overflows),
//     an all-zero block gets code 7, first element in the HIGH nibble, an odd tail pads a zero low nibble;
//   offset = mean of the block absmax (runs of 256 summed left to right in double, then the run sums left to
//     right, divided in double, rounded once to fp32);
//   per 256 absmax: nested_absmax = max |absmax - offset|, absmax code = nearest signed-dynamic-map entry of
//     clamp((absmax - offset) / nested_absmax, -1, 1) (tie -> lower index), code 127 when nested_absmax is 0.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/quantize_source.cuh"

namespace ql::gpu {

// Device scratch for launch_quantize_nf4: the fp32 block absmax of every matrix, then the fp64 run sums.
size_t nf4_scratch_bytes(int64_t rows, int64_t cols, int64_t stack);

// packed: [stack][ceil(numel/2)], absmax_codes: [stack][ceil(numel/64)], nested_absmax: [stack][ceil(blocks/256)]
// (fp32), offset: [stack] (fp32); numel = rows * cols. nested_map: the 256 fp32 values of
// ql::quant::signed_dynamic_map() in device memory (uploaded once by the host). scratch: nf4_scratch_bytes of it,
// 8-byte aligned. problems: first_nonfinite (stored order); the outputs of such a tensor are garbage.
// Fast paths (4-byte aligned packed): not transposed with numel % 64 == 0 and a 16-byte aligned source; transposed
// with cols % 64 == 0 (64 x 64 tiles through shared memory). Anything else takes a slower general path.
cudaError_t launch_quantize_nf4(const SourceMatrices& src, const float* nested_map, uint8_t* packed,
                                uint8_t* absmax_codes, float* nested_absmax, float* offset, void* scratch,
                                QuantizeProblems* problems, cudaStream_t stream);

}  // namespace ql::gpu
