#pragma once
// LLM.int8 weights quantized while loading (docs/gpu-backend.md, "Loading"),
// byte for byte what ql::quant::quantize_int8_rowwise writes on the CPU
// (core/quant/int8_rowwise.cpp):
//   W16     = fp16(W) (round to nearest even)
//   scb[r]  = max_c |W16[r, c]|
//   code    = round_half_even(W16 * fp32(127 / scb[r])); an all-zero row: scb 0, codes 0.
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/quantize_source.cuh"

namespace ql::gpu {

// codes: int8 [stack][rows][cols]; scb: fp32 [stack][rows] (4-byte aligned). problems: first_nonfinite (stored order)
// and first_beyond_f16 (a finite |x| >= 65520, which fp16 makes infinite: [rows, cols] order plus m*rows*cols); the
// outputs of a tensor with a problem are garbage and must not be used.
// Fast paths: not transposed with cols % 8 == 0, cols <= 32768, source 16-byte and codes 8-byte aligned (one block per
// row, the row in registers, read once); transposed: a column-absmax pass and a tiled-transpose code pass (the source
// is read twice).
cudaError_t launch_quantize_int8(const SourceMatrices& src, int8_t* codes, float* scb, QuantizeProblems* problems,
                                 cudaStream_t stream);

}  // namespace ql::gpu
