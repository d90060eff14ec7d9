#pragma once
// Device-side reads of one weight element, whatever its format
// (device_weight.h). These are the slow, general paths every kernel may fall
// back to (odd shapes, unaligned rows); the fast kernels decode whole 16-byte
// vectors in registers and must give the same values.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

constexpr int64_t kNf4Block = 64;
constexpr int64_t kNf4NestedBlock = 256;

// Scale of NF4 block `b` of matrix `m`: two fp32 roundings, as bitsandbytes
// dequantizes the absmax and then adds the offset (core/quant/nf4.cpp).
__device__ __forceinline__ float nf4_block_scale(const DeviceWeight& w, int64_t m, int64_t b) {
  const uint8_t code = w.absmax_codes[m * w.absmax_stride + b];
  const float nested = w.nested_absmax[m * w.nested_stride + b / kNf4NestedBlock];
  return __fadd_rn(__fmul_rn(w.nested_map[code], nested), w.offset[m]);
}

__device__ __forceinline__ float nf4_element(const DeviceWeight& w, int64_t m, int64_t i) {
  const uint8_t byte = w.packed[m * w.packed_stride + i / 2];
  const uint8_t code = (i & 1) ? (byte & 0x0f) : (byte >> 4);
  return __fmul_rn(w.quant_map[code], nf4_block_scale(w, m, i / kNf4Block));
}

__device__ __forceinline__ float int8_element(const DeviceWeight& w, int64_t m, int64_t i, int64_t row) {
  const float code = static_cast<float>(w.codes[m * w.matrix_numel() + i]);
  return __fmul_rn(__fmul_rn(code, w.scb[m * w.stored_rows + row]), 1.0f / 127.0f);
}

// Element (r, c) of matrix m of the view, as fp32.
__device__ __forceinline__ float weight_element(const DeviceWeight& w, int64_t m, int64_t r, int64_t c) {
  const int64_t i = w.stored_index(r, c);
  switch (w.format) {
    case WFormat::kF32: return static_cast<const float*>(w.data)[m * w.matrix_numel() + i];
    case WFormat::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(w.data)[m * w.matrix_numel() + i]);
    case WFormat::kF16: return __half2float(static_cast<const __half*>(w.data)[m * w.matrix_numel() + i]);
    case WFormat::kInt8: return int8_element(w, m, i, w.first_row + r);
    case WFormat::kNF4: return nf4_element(w, m, i);
  }
  return 0.0f;
}

}  // namespace ql::gpu
