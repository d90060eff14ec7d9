#include "core/quant/int8_activations.h"

#include <cmath>

#include "core/quant/round_half_even.h"

namespace ql::quant {
namespace {

// Round half to even, saturating, NaN -> 0: a NaN or infinite activation must
// not become undefined behaviour in the float -> int8 cast. Its row's scale is
// then NaN or infinite, so that row's outputs come out NaN, not plausible.
int8_t round_to_int8(float v) {
  const float r = round_half_even(v);
  if (!(r == r)) return 0;
  if (r > 127.0f) return 127;
  if (r < -127.0f) return -127;
  return static_cast<int8_t>(r);
}

}  // namespace

QuantizedActivations quantize_activations(const float* x, int64_t rows, int64_t cols, float threshold) {
  QuantizedActivations q;
  q.rows = rows;
  q.cols = cols;
  std::vector<char> is_outlier(static_cast<size_t>(cols), 0);
  if (threshold > 0.0f) {
    for (int64_t i = 0; i < rows; ++i) {
      const float* row = x + i * cols;
      for (int64_t c = 0; c < cols; ++c) is_outlier[c] |= std::fabs(row[c]) >= threshold;
    }
    for (int64_t c = 0; c < cols; ++c) {
      if (is_outlier[c]) q.outlier_cols.push_back(c);
    }
  }
  q.codes.resize(static_cast<size_t>(rows * cols));
  q.absmax.resize(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    const float* row = x + i * cols;
    int8_t* codes = q.codes.data() + i * cols;
    float absmax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      const float a = std::fabs(row[c]);
      // Not fmax: a NaN must reach the row's scale, and so its outputs.
      if (!is_outlier[c] && (a > absmax || a != a)) absmax = a;
    }
    q.absmax[i] = absmax;
    const float scale = absmax > 0.0f ? 127.0f / absmax : 0.0f;
    for (int64_t c = 0; c < cols; ++c) codes[c] = is_outlier[c] ? 0 : round_to_int8(row[c] * scale);
  }
  return q;
}

}  // namespace ql::quant
