#pragma once
// NF4 weights with double quantization, holding exactly the tensors that
// bitsandbytes writes for a Linear4bit (docs/formats.md §6.3, §7.2, §7.3), so that
// exporting is a plain write of these fields.
//
// Blocks of 64 run over the FLATTENED row-major tensor (a block may span rows;
// the last one may be short). Element i is stored as a 4-bit code, two per
// byte with the FIRST element in the HIGH nibble (an odd count pads one zero
// nibble), and dequantizes to
//   w[i] = quant_map[code_i] * absmax_dq[i / 64],
//   absmax_dq[b] = nested_quant_map[absmax_codes[b]] * nested_absmax[b / 256] + offset.
//
// An all-zero block gets code 7 (level 0.0) everywhere, as bitsandbytes' CPU
// reference does, rather than the CUDA kernel's code 0 (level -1.0): with
// double quantization its absmax_dq is generally not exactly 0, so only code 7
// decodes to exact zeros.
#include <array>
#include <cstdint>
#include <vector>

#include "core/common/result.h"
#include "core/quant/dynamic_map.h"
#include "core/quant/source_tensor.h"

namespace ql::quant {

inline constexpr int64_t kNf4BlockSize = 64;
inline constexpr int64_t kNf4NestedBlockSize = 256;

struct Nf4Weight {
  std::vector<uint8_t> packed;          // "P.weight": U8 [ceil(numel / 2), 1]
  std::vector<uint8_t> absmax_codes;    // "P.weight.absmax": U8 [ceil(numel / 64)]
  std::vector<float> nested_absmax;     // "P.weight.nested_absmax": F32 [ceil(n_absmax / 256)]
  std::array<float, 16> quant_map{};    // "P.weight.quant_map": F32 [16]
  DynamicMap nested_quant_map{};        // "P.weight.nested_quant_map": F32 [256]
  float offset = 0.0f;                  // quant state "nested_offset": mean of the fp32 absmax
  int64_t rows = 0;                     // quant state "shape": [rows, cols]
  int64_t cols = 0;
  SourceDType dtype = SourceDType::kBF16;  // quant state "dtype"

  int64_t numel() const { return rows * cols; }
};

// Errors (naming the tensor and element): empty shape, NaN or infinity.
Result<Nf4Weight> quantize_nf4(const SourceTensor& src, int threads = 0);

// The dequantized absmax of block b (the scale of elements [64 b, 64 b + 64)).
float nf4_block_scale(const Nf4Weight& w, int64_t block);

// Rows [first_row, first_row + rows) as fp32, row-major. A row may start in
// the middle of a block and on either nibble of a byte.
void decode_rows(const Nf4Weight& w, int64_t first_row, int64_t rows, float* out);

}  // namespace ql::quant
