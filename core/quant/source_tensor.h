#pragma once
// The unquantized weight a quantizer reads: a [rows, cols] view of fp32, bf16
// or fp16 elements, typically straight from an mmapped checkpoint shard, so
// the loader can quantize one tensor at a time without a copy. The bytes are
// row-major [rows, cols], or with `transposed` row-major [cols, rows] (the
// published fused-expert layout), read as their transpose.
#include <cstdint>
#include <string_view>

#include "core/common/result.h"

namespace ql::quant {

enum class SourceDType { kF32, kBF16, kF16 };

// The dtype's name as PyTorch spells it ("float32", "bfloat16", "float16"):
// the bitsandbytes quant state records the original dtype this way.
const char* torch_dtype_name(SourceDType dtype);

struct SourceTensor {
  std::string_view name;  // for messages; must outlive the quantize call
  SourceDType dtype = SourceDType::kF32;
  const void* data = nullptr;  // rows * cols elements; may be unaligned (mmapped shards)
  int64_t rows = 0;
  int64_t cols = 0;
  bool transposed = false;

  static SourceTensor f32(std::string_view name, const float* data, int64_t rows, int64_t cols);
  static SourceTensor bf16(std::string_view name, const uint16_t* data, int64_t rows, int64_t cols);
  static SourceTensor f16(std::string_view name, const uint16_t* data, int64_t rows, int64_t cols);

  int64_t numel() const { return rows * cols; }

  // Elements [first, first + count) of the flattened [rows, cols] tensor as
  // fp32 (exact: every bf16 and fp16 value is representable in fp32).
  void read_f32(int64_t first, int64_t count, float* out) const;
};

// Checks what every quantizer needs before it starts: a non-empty shape, data,
// and only finite values. A NaN or infinity would become a garbage scale for
// its whole row or block, so it is an error naming the tensor and the first
// bad element (in stored order; its row and column are those of [rows, cols]),
// never a silent wrong weight.
Status validate_source(const SourceTensor& src);

}  // namespace ql::quant
