#pragma once
// The activation side of the LLM.int8 matmul (docs/formats.md §7.1, runtime part):
// columns of x holding any |x| >= threshold are outliers and stay fp32; the
// other columns are quantized per row to int8 with scale absmax / 127.
#include <cstdint>
#include <vector>

namespace ql::quant {

struct QuantizedActivations {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int64_t> outlier_cols;  // ascending
  std::vector<int8_t> codes;          // [rows, cols]; 0 in outlier columns
  std::vector<float> absmax;          // [rows]: max |x| over the non-outlier columns
};

// x is row-major [rows, cols]. threshold <= 0 turns outlier detection off.
// The row scale ignores outlier columns, so one large value does not coarsen
// the rest of its row (bitsandbytes zeroes only the outlier elements first).
// A row whose int8 part is all zero gets absmax 0 and codes 0.
// Throws std::bad_alloc only; int8_matmul turns that into a Status.
QuantizedActivations quantize_activations(const float* x, int64_t rows, int64_t cols, float threshold);

}  // namespace ql::quant
