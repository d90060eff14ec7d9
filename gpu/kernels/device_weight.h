#pragma once
// How a weight lives in GPU memory, shared by the CUDA backend's host code
// (gpu/*.cpp) and its kernels (gpu/kernels/*.cu). Plain C++17: no core header
// and no CUDA header, so both nvcc and the host compiler read it.
//
// A weight is `stack` matrices of [stored_rows, cols] elements (stack = the
// experts of one MoE layer, 1 for any other weight), in one of five formats
// (docs/gpu-backend.md, "Weight formats on the device"):
//   kF32 / kBF16 / kF16  `data`: elements [stack][stored_rows][cols], row-major.
//   kInt8                LLM.int8 as bitsandbytes stores it: `codes` int8
//                        [stack][stored_rows][cols], `scb` fp32 [stack][stored_rows];
//                        w = (code * scb) * fp32(1/127), two fp32 roundings.
//   kNF4                 bitsandbytes NF4 with double quantization, per matrix m
//                        (numel = stored_rows * cols, blocks of 64 over the FLATTENED
//                        matrix, first element of a byte in the HIGH nibble):
//                          packed        + m * packed_stride   ceil(numel / 2) bytes
//                          absmax_codes  + m * absmax_stride   ceil(numel / 64) bytes
//                          nested_absmax + m * nested_stride   ceil(blocks / 256) fp32
//                          offset[m]                           fp32
//                        scale(b) = (nested_map[absmax_codes[b]] * nested_absmax[b / 256]) + offset
//                        w[i]     = quant_map[code_i] * scale(i / 64)
//                        each product and the sum rounded to fp32 separately (no FMA), as
//                        core/quant/nf4.cpp decodes.
// A row view (e.g. q, k, v of a fused qkv) shows rows [first_row, first_row + rows)
// of each stored matrix; element (m, r, c) of the view is stored element
// (first_row + r) * cols + c of matrix m.
#include <cstdint>

// Members callable from kernels and host code alike.
#ifdef __CUDACC__
#define QL_HOST_DEVICE __host__ __device__
#else
#define QL_HOST_DEVICE
#endif

namespace ql::gpu {

enum class WFormat : int32_t { kF32 = 0, kBF16 = 1, kF16 = 2, kInt8 = 3, kNF4 = 4 };

struct DeviceWeight {
  WFormat format = WFormat::kBF16;
  int64_t rows = 0;         // rows of the view (output features)
  int64_t cols = 0;         // columns (input features)
  int64_t stack = 1;        // matrices
  int64_t first_row = 0;    // row view offset into each stored matrix
  int64_t stored_rows = 0;  // rows of each stored matrix (== rows unless a view)

  const void* data = nullptr;  // dense formats

  const int8_t* codes = nullptr;  // kInt8
  const float* scb = nullptr;

  const uint8_t* packed = nullptr;  // kNF4
  int64_t packed_stride = 0;
  const uint8_t* absmax_codes = nullptr;
  int64_t absmax_stride = 0;
  const float* nested_absmax = nullptr;
  int64_t nested_stride = 0;
  const float* offset = nullptr;      // [stack]
  const float* quant_map = nullptr;   // [16]
  const float* nested_map = nullptr;  // [256]

  QL_HOST_DEVICE int64_t matrix_numel() const { return stored_rows * cols; }
  // Stored element index (within its matrix) of view element (r, c).
  QL_HOST_DEVICE int64_t stored_index(int64_t r, int64_t c) const { return (first_row + r) * cols + c; }
};

}  // namespace ql::gpu
