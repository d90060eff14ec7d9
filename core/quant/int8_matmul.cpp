#include "core/quant/int8_matmul.h"

#include <algorithm>
#include <atomic>
#include <new>
#include <vector>

#include "core/quant/int8_activations.h"
#include "core/quant/parallel_for.h"

namespace ql::quant {
namespace {

// 1 / 127^2 in fp32, the rescale of an int8 x int8 product.
constexpr float kInv127Squared = 1.0f / 16129.0f;

// |product| <= 127 * 127, so 2^16 of them fit an int32 with room to spare; longer
// rows add their int32 partial sums in int64 and cannot overflow.
constexpr int64_t kInt32SafeLength = int64_t{1} << 16;

int64_t dot_int8(const int8_t* a, const int8_t* b, int64_t n) {
  int64_t total = 0;
  for (int64_t start = 0; start < n; start += kInt32SafeLength) {
    const int64_t end = std::min(n, start + kInt32SafeLength);
    int32_t acc = 0;
    for (int64_t j = start; j < end; ++j) acc += static_cast<int32_t>(a[j]) * static_cast<int32_t>(b[j]);
    total += acc;
  }
  return total;
}

}  // namespace

void int8_matmul_rows(const float* x, const QuantizedActivations& xq, const Int8RowwiseWeight& w, int64_t first,
                      int64_t count, float* y, int64_t ld_y, float* outlier_weights) {
  const auto outliers = static_cast<int64_t>(xq.outlier_cols.size());
  for (int64_t o = first; o < first + count; ++o) {
    const int8_t* codes = w.codes.data() + o * w.cols;
    const float scb = w.scb[o];
    for (int64_t k = 0; k < outliers; ++k) {
      outlier_weights[k] = (static_cast<float>(codes[xq.outlier_cols[k]]) * scb) * kInv127;
    }
    for (int64_t i = 0; i < xq.rows; ++i) {
      const int64_t acc = dot_int8(xq.codes.data() + i * w.cols, codes, w.cols);
      float sum = static_cast<float>(acc) * (xq.absmax[i] * scb * kInv127Squared);
      const float* xi = x + i * w.cols;
      for (int64_t k = 0; k < outliers; ++k) sum += xi[xq.outlier_cols[k]] * outlier_weights[k];
      y[i * ld_y + (o - first)] = sum;
    }
  }
}

Status int8_matmul(const float* x, int64_t n, const Int8RowwiseWeight& w, float* y,
                   const Int8MatmulOptions& options) {
  if (n <= 0) return {};
  QuantizedActivations xq;
  try {
    xq = quantize_activations(x, n, w.cols, options.outlier_threshold);
  } catch (const std::bad_alloc&) {
    return internal_err("int8 matmul: out of memory quantizing activations [{}, {}]", n, w.cols);
  }
  const auto outliers = static_cast<int64_t>(xq.outlier_cols.size());
  std::atomic<bool> out_of_memory{false};

  parallel_for(w.rows, options.threads, static_cast<double>(n * w.cols), [&](int64_t begin, int64_t end) {
    std::vector<float> outlier_weights;  // this row's dequantized weights in the outlier columns
    try {
      outlier_weights.resize(static_cast<size_t>(outliers));
    } catch (const std::bad_alloc&) {
      out_of_memory = true;
      return;
    }
    int8_matmul_rows(x, xq, w, begin, end - begin, y + begin, w.rows, outlier_weights.data());
  });
  if (out_of_memory) return internal_err("int8 matmul: out of memory for {} outlier columns", outliers);
  return {};
}

}  // namespace ql::quant
