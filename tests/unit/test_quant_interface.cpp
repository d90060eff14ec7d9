// The format-independent interface the loader and engine use: quantize() per
// format, decode_rows, matmul against a double reference over decode_rows'
// weights, stored sizes and access to each format's stored tensors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/quant/quantized_weight.h"
#include "tests/unit/test_quant_reference.h"

namespace ql::quant {
namespace {

constexpr QuantFormat kAllFormats[] = {QuantFormat::kBF16, QuantFormat::kF16, QuantFormat::kInt8Rowwise,
                                       QuantFormat::kNf4};

TEST(QuantInterface, EachFormatReportsItselfAndItsSize) {
  const int64_t rows = 64, cols = 128;
  const auto v = testing::normal_values(static_cast<size_t>(rows * cols), 0.02f, 30);
  const auto src = SourceTensor::f32("w", v.data(), rows, cols);
  // Sizes by hand: 2 bytes per value; 1 byte per value + 4 per row; NF4: 4096 packed
  // bytes + 128 absmax codes + 1 nested absmax (4) + maps 16 * 4 + 256 * 4.
  const size_t expected_bytes[] = {16384, 16384, 8192 + 256, 4096 + 128 + 4 + 64 + 1024};
  for (size_t f = 0; f < 4; ++f) {
    auto w = quantize(src, kAllFormats[f], 2);
    ASSERT_TRUE(w.ok()) << w.message();
    EXPECT_EQ((*w)->format(), kAllFormats[f]);
    EXPECT_EQ((*w)->rows(), rows);
    EXPECT_EQ((*w)->cols(), cols);
    EXPECT_EQ((*w)->stored_bytes(), expected_bytes[f]) << quant_format_name(kAllFormats[f]);
    EXPECT_EQ(stored_as<Nf4Weight>(**w) != nullptr, kAllFormats[f] == QuantFormat::kNf4);
    EXPECT_EQ(stored_as<Int8RowwiseWeight>(**w) != nullptr, kAllFormats[f] == QuantFormat::kInt8Rowwise);
    EXPECT_EQ(stored_as<Dense16Weight>(**w) != nullptr,
              kAllFormats[f] == QuantFormat::kBF16 || kAllFormats[f] == QuantFormat::kF16);
  }
}

TEST(QuantInterface, Dense16ReportComesBackThroughQuantize) {
  const std::vector<float> v = {1.0f, 70000.0f, 1e-9f, 3.0f};
  Dense16Report report;
  auto w = quantize(SourceTensor::f32("w", v.data(), 2, 2), QuantFormat::kF16, 1, &report);
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_EQ(report.overflowed_to_inf, 1);
  EXPECT_EQ(report.flushed_to_zero, 1);
}

TEST(QuantInterface, DecodeRowsIsCloseToTheSourceInEveryFormat) {
  const int64_t rows = 20, cols = 70;
  const auto v = testing::normal_values(static_cast<size_t>(rows * cols), 1.0f, 31);
  // Worst error relative to the absmax of each format: bf16 2^-8, fp16 2^-11 (half an ulp),
  // int8 1/254 plus fp16 rounding, NF4 half the widest level gap (0.3038 / 2)
  // plus the double-quant error (at most half the widest map gap, 0.007).
  const double tolerance[] = {std::ldexp(1.0, -8), std::ldexp(1.0, -11), 1.0 / 254 + std::ldexp(1.0, -11), 0.16};
  for (size_t f = 0; f < 4; ++f) {
    auto w = quantize(SourceTensor::f32("w", v.data(), rows, cols), kAllFormats[f], 1);
    ASSERT_TRUE(w.ok()) << w.message();
    std::vector<float> out(static_cast<size_t>(3 * cols));
    (*w)->decode_rows(5, 3, out.data());  // rows 5..7
    for (int64_t i = 0; i < 3 * cols; ++i) {
      double absmax = 0.0;  // over the whole tensor: a bound for every row and block
      for (float x : v) absmax = std::fmax(absmax, std::fabs(x));
      ASSERT_NEAR(out[i], v[5 * cols + i], tolerance[f] * absmax) << quant_format_name(kAllFormats[f]) << " " << i;
    }
  }
}

TEST(QuantInterface, MatmulMatchesTheReferenceOnDecodedWeights) {
  const int64_t rows = 33, cols = 96, n = 4;
  const auto v = testing::normal_values(static_cast<size_t>(rows * cols), 0.05f, 32);
  const auto x = testing::normal_values(static_cast<size_t>(n * cols), 0.3f, 33);  // no |x| >= 6
  for (auto format : kAllFormats) {
    auto w = quantize(SourceTensor::f32("w", v.data(), rows, cols), format, 2);
    ASSERT_TRUE(w.ok()) << w.message();
    std::vector<float> decoded(static_cast<size_t>(rows * cols));
    (*w)->decode_rows(0, rows, decoded.data());
    const std::vector<double> wd(decoded.begin(), decoded.end());
    const auto ref = testing::reference_matmul(x, n, wd, rows, cols);
    const auto mass = testing::abs_product_sums(x, n, wd, rows, cols);
    std::vector<float> y(static_cast<size_t>(n * rows));
    ASSERT_TRUE((*w)->matmul(x.data(), n, y.data(), MatmulOptions{6.0f, 3}).ok());
    for (int64_t i = 0; i < n; ++i) {
      double xmax = 0.0;
      for (int64_t c = 0; c < cols; ++c) xmax = std::fmax(xmax, std::fabs(x[i * cols + c]));
      for (int64_t o = 0; o < rows; ++o) {
        const size_t k = static_cast<size_t>(i * rows + o);
        double bound = testing::fp32_dot_error_factor(cols) * 2 * mass[k];
        if (format == QuantFormat::kInt8Rowwise) {  // activations are quantized too: xmax / 254 each
          double wmass = 0.0;
          for (int64_t c = 0; c < cols; ++c) wmass += std::fabs(wd[o * cols + c]);
          bound += wmass * xmax / 254.0 * (1 + 1e-5);
        }
        ASSERT_LE(std::fabs(y[k] - ref[k]), bound) << quant_format_name(format) << " output " << k;
      }
    }
  }
}

}  // namespace
}  // namespace ql::quant
