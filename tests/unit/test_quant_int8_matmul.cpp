// The LLM.int8 matmul y = x . W^T with run-time outlier columns, against
// hand-computed products and a double-precision reference on the dequantized
// weights. Error bounds: each int8-path activation is off by at most
// absmax_row / 254, so |y - ref| <= sum over int8 columns |W_dq| * absmax / 254,
// plus fp32 rounding; outlier columns are fp32 math, exact to fp32 rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/quant/int8_matmul.h"
#include "tests/unit/test_quant_reference.h"

namespace ql::quant {
namespace {

Int8RowwiseWeight quantize_ok(const std::vector<float>& w, int64_t rows, int64_t cols) {
  auto r = quantize_int8_rowwise(SourceTensor::f32("w", w.data(), rows, cols), 1);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? std::move(r).value() : Int8RowwiseWeight{};
}

std::vector<float> matmul_ok(const std::vector<float>& x, int64_t n, const Int8RowwiseWeight& w, float threshold,
                             int threads = 3) {
  std::vector<float> y(static_cast<size_t>(n * w.rows), -12345.0f);
  const Status s = int8_matmul(x.data(), n, w, y.data(), Int8MatmulOptions{threshold, threads});
  EXPECT_TRUE(s.ok()) << s.message();
  return y;
}

// The dequantized weights in double, from the stored codes and SCB (docs/formats.md §7.1).
std::vector<double> dequantized(const Int8RowwiseWeight& w) {
  std::vector<double> d(w.codes.size());
  for (int64_t r = 0; r < w.rows; ++r) {
    for (int64_t c = 0; c < w.cols; ++c) d[r * w.cols + c] = w.codes[r * w.cols + c] * static_cast<double>(w.scb[r]) / 127.0;
  }
  return d;
}

// W rows hold integers with max |.| = 127, so SCB = 127 and CB = W exactly.
const std::vector<float> kW = {127, -1, 2, 0,      //
                               3, 127, -127, 5};  //

TEST(QuantInt8Matmul, HandComputedAllInt8) {
  const auto w = quantize_ok(kW, 2, 4);
  ASSERT_EQ(w.codes, (std::vector<int8_t>{127, -1, 2, 0, 3, 127, -127, 5}));
  // Each x row has absmax 127 so its codes are its values: every product is exact.
  const std::vector<float> x = {1, 2, 127, -3,  //
                                127, 0, 0, 0};
  const auto y = matmul_ok(x, 2, w, 0.0f);
  // y00 = 127 - 2 + 254 + 0 = 379; y01 = 3 + 254 - 16129 - 15 = -15887
  // y10 = 127 * 127 = 16129;       y11 = 127 * 3 = 381
  const std::vector<double> expected = {379, -15887, 16129, 381};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(y[i], expected[i], 2e-6 * std::fabs(expected[i])) << i;
}

TEST(QuantInt8Matmul, HandComputedWithOutlierColumns) {
  const auto w = quantize_ok(kW, 2, 4);
  // Threshold 6: columns 0 and 2 hold 127 -> fp32 path. Row 0's int8 part is
  // {0, -3}: absmax 3, codes {0, -127}, exact. Row 1's int8 part is all zero.
  const std::vector<float> x = {127, 0, 127, -3,  //
                                127, 0, 0, 0};
  const auto y = matmul_ok(x, 2, w, 6.0f);
  // y00 = 127*127 + 127*2 + (-3)*0 = 16383; y01 = 127*3 + 127*(-127) + (-3)*5 = -15763
  // y10 = 127*127 = 16129;                   y11 = 127*3 = 381
  const std::vector<double> expected = {16383, -15763, 16129, 381};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(y[i], expected[i], 2e-6 * std::fabs(expected[i])) << i;
}

// Checks y against the reference with the bound above; columns are outliers
// when some row has |x| >= threshold (threshold > 0). Returns the worst |y - ref|.
double check_against_reference(const std::vector<float>& x, int64_t n, const Int8RowwiseWeight& w, float threshold) {
  const auto y = matmul_ok(x, n, w, threshold);
  const auto wd = dequantized(w);
  const auto ref = testing::reference_matmul(x, n, wd, w.rows, w.cols);
  const auto scale = testing::abs_product_sums(x, n, wd, w.rows, w.cols);
  std::vector<bool> outlier(static_cast<size_t>(w.cols), false);
  for (int64_t c = 0; c < w.cols; ++c) {
    for (int64_t i = 0; i < n; ++i) outlier[c] = outlier[c] || (threshold > 0 && std::fabs(x[i * w.cols + c]) >= threshold);
  }
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double absmax = 0.0;
    for (int64_t c = 0; c < w.cols; ++c) {
      if (!outlier[c]) absmax = std::fmax(absmax, std::fabs(x[i * w.cols + c]));
    }
    for (int64_t o = 0; o < w.rows; ++o) {
      double int8_weight_mass = 0.0;
      for (int64_t c = 0; c < w.cols; ++c) {
        if (!outlier[c]) int8_weight_mass += std::fabs(wd[o * w.cols + c]);
      }
      const size_t k = static_cast<size_t>(i * w.rows + o);
      const double bound = int8_weight_mass * absmax / 254.0 * (1 + 1e-5) +
                           testing::fp32_dot_error_factor(w.cols) * 4 * scale[k] + 1e-30;
      const double e = std::fabs(y[k] - ref[k]);
      EXPECT_LE(e, bound) << "x row " << i << ", output " << o;
      worst = std::fmax(worst, e);
    }
  }
  return worst;
}

TEST(QuantInt8Matmul, RandomWithoutOutliersWithinTheQuantizationBound) {
  const int64_t rows = 37, cols = 200;
  const auto w = quantize_ok(testing::normal_values(static_cast<size_t>(rows * cols), 0.05f, 3), rows, cols);
  for (int64_t n : {1, 5}) {
    const auto x = testing::normal_values(static_cast<size_t>(n * cols), 1.0f, 4);
    check_against_reference(x, n, w, 0.0f);
    check_against_reference(x, n, w, 6.0f);  // N(0,1) activations rarely reach 6: the same bound
  }
}

TEST(QuantInt8Matmul, OutlierColumnsKeepTheOtherColumnsPrecise) {
  const int64_t rows = 29, cols = 150, n = 6;
  const auto w = quantize_ok(testing::normal_values(static_cast<size_t>(rows * cols), 0.05f, 5), rows, cols);
  auto x = testing::normal_values(static_cast<size_t>(n * cols), 0.5f, 6);
  for (int64_t c : {3, 17, 149}) x[(c % n) * cols + c] = c == 17 ? -40.0f : 25.0f;  // outliers in 3 columns
  const double worst_with = check_against_reference(x, n, w, 6.0f);
  const double worst_without = check_against_reference(x, n, w, 0.0f);
  // Quantizing a row whose absmax is 40 instead of ~2 costs ~20x precision.
  EXPECT_LT(worst_with * 5, worst_without);
}

TEST(QuantInt8Matmul, OnlyOutlierColumnsIsFp32Exact) {
  const int64_t rows = 10, cols = 64, n = 3;
  const auto w = quantize_ok(testing::normal_values(static_cast<size_t>(rows * cols), 0.1f, 7), rows, cols);
  // Non-zero activations only in columns where some row is >= 6: no int8 part at all.
  std::vector<float> x(static_cast<size_t>(n * cols), 0.0f);
  const auto big = testing::normal_values(static_cast<size_t>(n * cols), 3.0f, 8);
  for (int64_t c = 0; c < cols; c += 4) {
    x[c] = 6.0f + static_cast<float>(c);  // row 0 makes the column an outlier
    for (int64_t i = 1; i < n; ++i) x[i * cols + c] = big[i * cols + c];
  }
  const auto y = matmul_ok(x, n, w, 6.0f);
  const auto wd = dequantized(w);
  const auto ref = testing::reference_matmul(x, n, wd, rows, cols);
  const auto scale = testing::abs_product_sums(x, n, wd, rows, cols);
  for (size_t k = 0; k < y.size(); ++k) {
    EXPECT_NEAR(y[k], ref[k], testing::fp32_dot_error_factor(cols) * 2 * scale[k]) << k;
  }
}

TEST(QuantInt8Matmul, ZeroWeightRowAndZeroActivationRowGiveZeros) {
  std::vector<float> wv = {0, 0, 0, 1, 2, 3};
  const auto w = quantize_ok(wv, 2, 3);
  const std::vector<float> x = {0, 0, 0, 1, -1, 7};  // row 1 has an outlier column
  const auto y = matmul_ok(x, 2, w, 6.0f);
  EXPECT_EQ(y[0], 0.0f);  // zero activations
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(y[2], 0.0f);  // zero weight row
  // W row 1 = {1, 2, 3}: SCB 3, codes {42, 85, 127}. Column 2 is an outlier:
  // 7 * 3 in fp32. Columns 0, 1: x codes {127, -127} (absmax 1), so
  // acc = 127*42 - 127*85 = -5461, rescaled by 1 * 3 / 127^2: (42 - 85) * 3/127.
  EXPECT_NEAR(y[3], 21.0 + (42.0 - 85.0) * 3 / 127, 1e-4);
}

TEST(QuantInt8Matmul, NanActivationPoisonsOnlyItsRow) {
  const auto w = quantize_ok(kW, 2, 4);
  const std::vector<float> x = {1, std::numeric_limits<float>::quiet_NaN(), 0, 0,  //
                                1, 2, 3, 4};
  const auto y = matmul_ok(x, 2, w, 0.0f);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_TRUE(std::isnan(y[1]));
  // Row 1: absmax 4, codes round({31.75, 63.5, 95.25, 127}) = {32, 64, 95, 127}:
  // y10 = (32*127 - 64 + 190) * 4/127 = 4190 * 4/127; y11 = (96 + 8128 - 12065 + 635) * 4/127.
  EXPECT_NEAR(y[2], 4190.0 * 4 / 127, 1e-3);
  EXPECT_NEAR(y[3], (96.0 + 8128 - 12065 + 635) * 4 / 127, 1e-3);
}

}  // namespace
}  // namespace ql::quant
