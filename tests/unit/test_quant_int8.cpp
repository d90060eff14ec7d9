// LLM.int8 weight quantization (docs/formats.md §7.1): hand-computed rows and the
// round-trip bound |W16 - dequant| <= SCB / 254 on random weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <vector>

#include "core/common/float16.h"
#include "core/quant/int8_rowwise.h"
#include "tests/unit/test_quant_reference.h"

namespace ql::quant {
namespace {

Int8RowwiseWeight quantize_ok(const SourceTensor& src, int threads = 1) {
  auto r = quantize_int8_rowwise(src, threads);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? std::move(r).value() : Int8RowwiseWeight{};
}

TEST(QuantInt8, HandComputedRowsRoundHalfToEven) {
  const std::vector<float> w = {
      1.0f, -0.5f, 0.25f, 0.0f,          // SCB 1: 127, -63.5 -> -64, 31.75 -> 32, 0
      127.0f, 2.5f, 3.5f, -2.5f,         // SCB 127: scale 1, ties 2.5 -> 2, 3.5 -> 4, -2.5 -> -2
      0.0f, 0.0f, 0.0f, 0.0f,            // all zero: SCB 0, codes 0
  };
  const auto q = quantize_ok(SourceTensor::f32("w", w.data(), 3, 4));
  EXPECT_EQ(q.scb, (std::vector<float>{1.0f, 127.0f, 0.0f}));
  const std::vector<int8_t> expected = {127, -64, 32, 0, 127, 2, 4, -2, 0, 0, 0, 0};
  EXPECT_EQ(q.codes, expected);
  EXPECT_EQ(q.source_dtype, SourceDType::kF32);
}

TEST(QuantInt8, DequantizeMultipliesBySpecConstant) {
  // docs/formats.md §7.1: the reference multiplies CB * SCB by 7.874015718698502e-3.
  const std::vector<float> w = {1.0f, -0.5f, 0.25f, 0.0f, 0.0f, 0.0f};
  const auto q = quantize_ok(SourceTensor::f32("w", w.data(), 2, 3));
  std::vector<float> out(6, -1.0f);
  decode_rows(q, 0, 2, out.data());
  const auto k = static_cast<float>(7.874015718698502e-3);
  EXPECT_EQ(out[0], 127.0f * k);
  EXPECT_EQ(out[1], -64.0f * k);
  EXPECT_EQ(out[2], 32.0f * k);
  EXPECT_NEAR(out[1], -0.50393700787, 1e-7);  // -64/127
  for (int i = 3; i < 6; ++i) EXPECT_EQ(out[i], 0.0f);  // the all-zero row
}

TEST(QuantInt8, DecodeOfOneRowInTheMiddle) {
  const std::vector<float> w = {1.0f, 1.0f, 127.0f, -127.0f, 2.0f, 3.0f};
  const auto q = quantize_ok(SourceTensor::f32("w", w.data(), 3, 2));
  std::vector<float> row(2);
  decode_rows(q, 1, 1, row.data());
  EXPECT_NEAR(row[0], 127.0, 127.0 * 1e-7);
  EXPECT_NEAR(row[1], -127.0, 127.0 * 1e-7);
}

TEST(QuantInt8, WeightsAreCastToFp16First) {
  // 1.0001 is 1.0 in fp16 (spacing 2^-10 near 1), so SCB is exactly 1.
  const std::vector<float> a = {1.0001f, 0.5f};
  EXPECT_EQ(quantize_ok(SourceTensor::f32("a", a.data(), 1, 2)).scb[0], 1.0f);
  // 3e-5 is a half subnormal: 3e-5 * 2^24 = 503.3 -> 503 * 2^-24.
  const std::vector<float> b = {3.0e-5f, -1.0e-5f};
  const auto q = quantize_ok(SourceTensor::f32("b", b.data(), 1, 2));
  EXPECT_EQ(q.scb[0], std::ldexp(503.0f, -24));
  // -1e-5 -> -168 * 2^-24; code = round(-168 * 127 / 503) = round(-42.42) = -42.
  EXPECT_EQ(q.codes[1], -42);
}

TEST(QuantInt8, Bf16AndFp16SourcesGiveTheSameCodesAsTheirFp32Values) {
  const std::vector<uint16_t> bf16 = {0x3f80, 0xbf00, 0x3e80, 0x4000};  // 1, -0.5, 0.25, 2
  const std::vector<uint16_t> f16 = {0x3c00, 0xb800, 0x3400, 0x4000};   // the same values
  const auto a = quantize_ok(SourceTensor::bf16("a", bf16.data(), 2, 2));
  const auto b = quantize_ok(SourceTensor::f16("b", f16.data(), 2, 2));
  const std::vector<int8_t> expected = {127, -64, 16, 127};  // row 1: 0.25 * 127 / 2 = 15.875 -> 16
  EXPECT_EQ(a.codes, expected);
  EXPECT_EQ(b.codes, expected);
  EXPECT_EQ(a.scb, (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(a.source_dtype, SourceDType::kBF16);
  EXPECT_EQ(b.source_dtype, SourceDType::kF16);
}

// |W16 - CB * SCB / 127| <= SCB / 254, plus fp32 rounding of the scale and the
// product (a few ulp of 127, relative); against the source, plus fp16's own rounding.
void check_round_trip(const std::vector<float>& w, int64_t rows, int64_t cols, int threads) {
  const auto q = quantize_ok(SourceTensor::f32("w", w.data(), rows, cols), threads);
  std::vector<float> dq(w.size());
  decode_rows(q, 0, rows, dq.data());
  double worst_ratio = 0.0, sum_sq = 0.0, sum_sq_w = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    double absmax16 = 0.0;  // the test's own SCB: max |fp16(w)| over the row
    for (int64_t c = 0; c < cols; ++c) absmax16 = std::fmax(absmax16, std::fabs(f16_to_f32(f32_to_f16(w[r * cols + c]))));
    ASSERT_EQ(q.scb[r], static_cast<float>(absmax16)) << "row " << r;
    const double bound = absmax16 / 254.0 * (1.0 + 1e-5);
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(r * cols + c);
      const double w16 = f16_to_f32(f32_to_f16(w[i]));
      const double err16 = std::fabs(w16 - dq[i]);
      ASSERT_LE(err16, bound) << "row " << r << " col " << c;
      const double err = std::fabs(static_cast<double>(w[i]) - dq[i]);
      ASSERT_LE(err, bound + std::fabs(w[i]) * std::ldexp(1.0, -11) + std::ldexp(1.0, -25));
      worst_ratio = std::fmax(worst_ratio, err16 / (absmax16 / 254.0));
      sum_sq += err * err;
      sum_sq_w += static_cast<double>(w[i]) * w[i];
    }
  }
  std::cout << "int8 [" << rows << " x " << cols << "]: max |W16 - dq| = " << worst_ratio
            << " x SCB/254, relative RMS error vs source = " << std::sqrt(sum_sq / sum_sq_w) << "\n";
  EXPECT_GT(worst_ratio, 0.9);  // the bound is tight: some element sits near a half step
}

TEST(QuantInt8, RoundTripWithinHalfAStepOnRandomWeights) {
  const int64_t rows = 97, cols = 300;
  auto w = testing::normal_values(static_cast<size_t>(rows * cols), 0.02f, 1);
  for (int64_t c = 0; c < cols; ++c) w[5 * cols + c] *= 50.0f;  // a row of much larger weights
  w[11 * cols + 7] = 3.0f;                                       // a row with one large weight
  check_round_trip(w, rows, cols, 3);
}

TEST(QuantInt8, RoundTripOfBf16Weights) {
  const int64_t rows = 16, cols = 64;
  const auto f = testing::normal_values(static_cast<size_t>(rows * cols), 1.0f, 2);
  std::vector<uint16_t> bf16(f.size());
  std::vector<float> exact(f.size());
  for (size_t i = 0; i < f.size(); ++i) {
    bf16[i] = f32_to_bf16(f[i]);
    exact[i] = bf16_to_f32(bf16[i]);
  }
  const auto from_bf16 = quantize_ok(SourceTensor::bf16("w", bf16.data(), rows, cols));
  const auto from_f32 = quantize_ok(SourceTensor::f32("w", exact.data(), rows, cols));
  // A bf16 source is its fp32 values: identical storage.
  EXPECT_EQ(from_bf16.codes, from_f32.codes);
  EXPECT_EQ(from_bf16.scb, from_f32.scb);
  check_round_trip(exact, rows, cols, 1);
}

}  // namespace
}  // namespace ql::quant
