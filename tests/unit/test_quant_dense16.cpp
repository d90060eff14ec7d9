// fp32 -> bf16 / fp16 conversion and its loss report, on values whose 16-bit
// encodings were worked out by hand (IEEE binary16: max 65504, values >= 65520
// round to inf, smallest subnormal 2^-24; bf16: fp32's exponent range).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/quant/dense16.h"

namespace ql::quant {
namespace {

Dense16Conversion convert_ok(const SourceTensor& src, Dense16Type type) {
  auto r = quantize_dense16(src, type, 1);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? std::move(r).value() : Dense16Conversion{};
}

TEST(QuantDense16, Fp16OverflowIsCountedAndBecomesInfinity) {
  const std::vector<float> v = {65504.0f, 65519.0f, 65520.0f, -1.0e6f, 1.0f};
  const auto c = convert_ok(SourceTensor::f32("w", v.data(), 1, 5), Dense16Type::kF16);
  ASSERT_EQ(c.weight.bits.size(), 5u);
  EXPECT_EQ(c.weight.bits[0], 0x7bff);  // 65504, the largest finite half
  EXPECT_EQ(c.weight.bits[1], 0x7bff);  // 65519 rounds down to 65504
  EXPECT_EQ(c.weight.bits[2], 0x7c00);  // 65520 is the tie to 65536 -> +inf
  EXPECT_EQ(c.weight.bits[3], 0xfc00);  // -inf
  EXPECT_EQ(c.weight.bits[4], 0x3c00);  // 1.0
  EXPECT_EQ(c.report.overflowed_to_inf, 2);
  EXPECT_EQ(c.report.flushed_to_zero, 0);
  EXPECT_EQ(c.report.became_subnormal, 0);
}

TEST(QuantDense16, Fp16FlushToZeroAndSubnormalsAreCountedApart) {
  const float two_m25 = std::ldexp(1.0f, -25);
  const std::vector<float> v = {
      two_m25,                    // exactly half the smallest subnormal: tie to even -> 0
      1.5f * two_m25,             // 0.75 * 2^-24 -> 1 * 2^-24 (0x0001)
      1.0e-10f,                   // far below: 0
      1.0e-5f,                    // 167.77 * 2^-24 -> 168 (0x00a8)
      std::ldexp(1.0f, -14),      // smallest normal (0x0400): not subnormal
      0.0f,                       // zero stays zero and is not counted
      -1.0e-6f,                   // 16.78 * 2^-24 -> 17, negative (0x8011)
  };
  const auto c = convert_ok(SourceTensor::f32("w", v.data(), 1, 7), Dense16Type::kF16);
  const std::vector<uint16_t> expected = {0x0000, 0x0001, 0x0000, 0x00a8, 0x0400, 0x0000, 0x8011};
  EXPECT_EQ(c.weight.bits, expected);
  EXPECT_EQ(c.report.overflowed_to_inf, 0);
  EXPECT_EQ(c.report.flushed_to_zero, 2);
  EXPECT_EQ(c.report.became_subnormal, 3);
}

TEST(QuantDense16, Bf16ReportCountsOnlyTheExtremesOfFp32) {
  const float max = std::numeric_limits<float>::max();
  const std::vector<float> v = {
      3.4e38f,                                     // above bf16's max 0x7f7f (3.3895e38) -> inf
      -max,                                        // -> -inf
      std::numeric_limits<float>::denorm_min(),    // 2^-149 -> 0
      1.0e-39f,                                    // fp32 subnormal 0x000ae398 -> bf16 0x000b
      65520.0f,                                    // fine in bf16 (0x4780: 65536 after rounding)
  };
  const auto c = convert_ok(SourceTensor::f32("w", v.data(), 1, 5), Dense16Type::kBF16);
  const std::vector<uint16_t> expected = {0x7f80, 0xff80, 0x0000, 0x000b, 0x4780};
  EXPECT_EQ(c.weight.bits, expected);
  EXPECT_EQ(c.report.overflowed_to_inf, 2);
  EXPECT_EQ(c.report.flushed_to_zero, 1);
  EXPECT_EQ(c.report.became_subnormal, 1);
}

TEST(QuantDense16, Bf16RoundsHalfToEven) {
  // 1 + 2^-8 is halfway between bf16 1.0 (0x3f80) and 1.0078125 (0x3f81): even wins.
  // 1 + 3 * 2^-8 is halfway between 0x3f81 and 0x3f82: even (0x3f82) wins.
  const std::vector<float> v = {1.0f + std::ldexp(1.0f, -8), 1.0f + 3 * std::ldexp(1.0f, -8)};
  const auto c = convert_ok(SourceTensor::f32("w", v.data(), 1, 2), Dense16Type::kBF16);
  EXPECT_EQ(c.weight.bits, (std::vector<uint16_t>{0x3f80, 0x3f82}));
}

TEST(QuantDense16, DecodeRowsGivesTheStoredValues) {
  // Values exact in both formats, from each source dtype.
  const std::vector<float> f32 = {0.5f, -2.0f, 3.25f, 0.0f, -0.125f, 1024.0f};
  const std::vector<uint16_t> bf16 = {0x3f00, 0xc000, 0x4050, 0x0000, 0xbe00, 0x4480};
  const std::vector<uint16_t> f16 = {0x3800, 0xc000, 0x4280, 0x0000, 0xb000, 0x6400};
  const SourceTensor sources[] = {SourceTensor::f32("a", f32.data(), 2, 3), SourceTensor::bf16("b", bf16.data(), 2, 3),
                                  SourceTensor::f16("c", f16.data(), 2, 3)};
  for (const auto& src : sources) {
    for (auto type : {Dense16Type::kBF16, Dense16Type::kF16}) {
      const auto c = convert_ok(src, type);
      EXPECT_EQ(c.weight.bits, type == Dense16Type::kBF16 ? bf16 : f16) << src.name;
      std::vector<float> row(3);
      decode_rows(c.weight, 1, 1, row.data());
      EXPECT_EQ(row, (std::vector<float>{0.0f, -0.125f, 1024.0f})) << src.name;
    }
  }
}

TEST(QuantDense16, NonFiniteSourceIsRefusedWithItsName) {
  std::vector<float> v(6, 1.0f);
  v[4] = std::numeric_limits<float>::quiet_NaN();
  auto r = quantize_dense16(SourceTensor::f32("model.layers.3.mlp.gate.weight", v.data(), 2, 3), Dense16Type::kF16);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("model.layers.3.mlp.gate.weight"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("element 4 (row 1, col 1)"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace ql::quant
