#pragma once
// Bytes a weight occupies once loaded, per format, exactly as the formats
// store it (dense16.h, int8_rowwise.h, nf4.h), and the matrices the loader
// makes of each schema tensor (model_weights.h): the fused experts become one
// [out, in] matrix per expert, the vision qkv three [d, d] row ranges.
// Per-matrix costs (INT8 row scales, NF4 maps and block rounding) depend on
// that split, so the planner counts the matrices the loader will hold.
#include <cstdint>

#include "core/model/tensor_schema.h"
#include "core/quant/quantized_weight.h"

namespace ql::quant {

// Stored bytes of one [rows, cols] matrix:
//   bf16 / fp16: 2 per element;
//   int8:        1 per element + one fp32 scale (SCB) per row;
//   nf4:         ceil(n / 2) packed nibbles + ceil(n / 64) absmax codes
//                + 4 * ceil(ceil(n / 64) / 256) nested fp32 absmax
//                + 16 * 4 (quant map) + 256 * 4 (nested map), n = rows * cols
//                (blocks run over the flattened matrix).
uint64_t matrix_storage_bytes(QuantFormat format, int64_t rows, int64_t cols);

// `count` matrices of [rows, cols]: how the loader holds one schema tensor.
struct StorageShape {
  int64_t count = 1;
  int64_t rows = 1;
  int64_t cols = 1;
  friend bool operator==(const StorageShape&, const StorageShape&) = default;
};

// Vectors are [1, n]; higher ranks [dim0, product of the rest] (the Conv3d).
StorageShape storage_shape(const model::TensorSpec& spec);

uint64_t tensor_storage_bytes(QuantFormat format, const model::TensorSpec& spec);

}  // namespace ql::quant
