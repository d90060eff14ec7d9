// The NF4 matmul y = x . W^T (decoding blocks of rows on the fly) against a
// double-precision product over the dequantized weights, which the test
// dequantizes itself from the stored tensors (docs/formats.md §7.2, §7.3).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/quant/nf4_matmul.h"
#include "tests/unit/test_quant_reference.h"

namespace ql::quant {
namespace {

// w[i] = quant_map[code_i] * (nested_quant_map[q[b]] * nested_absmax[b / 256] + offset), b = i / 64.
std::vector<double> dequantized(const Nf4Weight& w) {
  std::vector<double> d(static_cast<size_t>(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t b = i / 64;
    const int code = i % 2 == 0 ? w.packed[i / 2] >> 4 : w.packed[i / 2] & 0x0f;
    const double scale = static_cast<double>(w.nested_quant_map[w.absmax_codes[b]]) * w.nested_absmax[b / 256] + w.offset;
    d[i] = w.quant_map[code] * scale;
  }
  return d;
}

void check_matmul(int64_t n, int64_t rows, int64_t cols, int threads, uint32_t seed) {
  const auto wv = testing::normal_values(static_cast<size_t>(rows * cols), 0.05f, seed);
  auto q = quantize_nf4(SourceTensor::f32("w", wv.data(), rows, cols), threads);
  ASSERT_TRUE(q.ok()) << q.message();
  const auto x = testing::normal_values(static_cast<size_t>(n * cols), 1.0f, seed + 1);
  std::vector<float> y(static_cast<size_t>(n * rows), -12345.0f);
  const Status s = nf4_matmul(x.data(), n, *q, y.data(), threads);
  ASSERT_TRUE(s.ok()) << s.message();
  const auto wd = dequantized(*q);
  const auto ref = testing::reference_matmul(x, n, wd, rows, cols);
  const auto mass = testing::abs_product_sums(x, n, wd, rows, cols);
  // fp32 decode (1 rounding per weight) and fp32 dot products: gamma_{cols+2}.
  const double factor = testing::fp32_dot_error_factor(cols + 1);
  for (size_t k = 0; k < y.size(); ++k) {
    ASSERT_LE(std::fabs(y[k] - ref[k]), factor * mass[k] + 1e-30) << "[" << n << " x " << cols << "] x [" << rows
                                                                  << " x " << cols << "]^T, output " << k;
  }
}

TEST(QuantNf4Matmul, SingleRowMatchesTheReference) { check_matmul(1, 64, 128, 1, 20); }

TEST(QuantNf4Matmul, BlocksAcrossRowsAndOddShapes) {
  check_matmul(7, 37, 100, 3, 21);  // rows start mid-block; 37 rows is not a multiple of the tile
  check_matmul(3, 13, 33, 2, 22);   // odd cols: rows start on a low nibble
  check_matmul(2, 5, 1000, 4, 23);  // more threads than tiles
}

TEST(QuantNf4Matmul, ManyRowsAndThreads) { check_matmul(16, 130, 256, 3, 24); }

TEST(QuantNf4Matmul, NoActivationRowsWritesNothing) {
  const std::vector<float> wv(64, 0.5f);
  auto q = quantize_nf4(SourceTensor::f32("w", wv.data(), 2, 32), 1);
  ASSERT_TRUE(q.ok()) << q.message();
  float y = 7.0f;
  EXPECT_TRUE(nf4_matmul(nullptr, 0, *q, &y, 1).ok());
  EXPECT_EQ(y, 7.0f);
}

}  // namespace
}  // namespace ql::quant
