// Every format refuses what it cannot quantize faithfully, naming the tensor
// and the first bad element: NaN, infinities, empty shapes, missing data, and
// (LLM.int8 only, which casts to fp16 first) values beyond fp16's range.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "core/quant/quantized_weight.h"

namespace ql::quant {
namespace {

constexpr QuantFormat kAllFormats[] = {QuantFormat::kBF16, QuantFormat::kF16, QuantFormat::kInt8Rowwise,
                                       QuantFormat::kNf4};

void expect_error_naming(const SourceTensor& src, QuantFormat format, const std::string& what) {
  auto r = quantize(src, format, 1);
  ASSERT_FALSE(r.ok()) << quant_format_name(format);
  EXPECT_NE(r.message().find(std::string(src.name)), std::string::npos) << r.message();
  EXPECT_NE(r.message().find(what), std::string::npos) << r.message();
}

TEST(QuantSourceValidation, NanInFp32IsRefusedByEveryFormat) {
  std::vector<float> v(12, 0.25f);
  v[7] = std::numeric_limits<float>::quiet_NaN();
  const auto src = SourceTensor::f32("visual.blocks.0.attn.qkv.weight", v.data(), 3, 4);
  for (auto f : kAllFormats) expect_error_naming(src, f, "element 7 (row 1, col 3) is nan");
}

TEST(QuantSourceValidation, InfinityInBf16IsRefusedByEveryFormat) {
  std::vector<uint16_t> v(10, 0x3f80);  // 1.0
  v[2] = 0x7f80;                        // +inf
  const auto src = SourceTensor::bf16("q_proj.weight", v.data(), 2, 5);
  for (auto f : kAllFormats) expect_error_naming(src, f, "element 2 (row 0, col 2) is inf");
}

TEST(QuantSourceValidation, InfinityAndNanInFp16AreRefused) {
  std::vector<uint16_t> v(8, 0x3c00);  // 1.0
  v[5] = 0xfc00;                       // -inf
  for (auto f : kAllFormats) expect_error_naming(SourceTensor::f16("k", v.data(), 2, 4), f, "element 5 (row 1, col 1) is -inf");
  v[5] = 0x3c00;
  v[6] = 0x7e00;  // NaN
  for (auto f : kAllFormats) expect_error_naming(SourceTensor::f16("k", v.data(), 2, 4), f, "element 6");
}

TEST(QuantSourceValidation, OnlyTheFirstBadElementIsNamed) {
  std::vector<float> v(6, 1.0f);
  v[3] = std::numeric_limits<float>::infinity();
  v[1] = -std::numeric_limits<float>::infinity();
  expect_error_naming(SourceTensor::f32("w", v.data(), 2, 3), QuantFormat::kNf4, "element 1 (row 0, col 1) is -inf");
}

TEST(QuantSourceValidation, EmptyShapeAndMissingDataAreRefused) {
  const float one = 1.0f;
  for (auto f : kAllFormats) {
    expect_error_naming(SourceTensor::f32("empty.weight", &one, 0, 4), f, "[0, 4]");
    expect_error_naming(SourceTensor::f32("null.weight", nullptr, 1, 1), f, "no data");
  }
}

TEST(QuantSourceValidation, Int8RefusesValuesBeyondFp16) {
  std::vector<float> v = {1.0f, 2.0f, -65504.0f, 3.0f, -70000.0f, 4.0f};
  expect_error_naming(SourceTensor::f32("o_proj.weight", v.data(), 2, 3), QuantFormat::kInt8Rowwise,
                      "element 4 (row 1, col 1) = -70000");
  // bf16 reaches further than fp16: 65536 (0x4780) is a finite bf16 weight.
  std::vector<uint16_t> b = {0x3f80, 0x4780};
  expect_error_naming(SourceTensor::bf16("b.weight", b.data(), 1, 2), QuantFormat::kInt8Rowwise, "= 65536");
  // The same values are fine for the formats that do not go through fp16.
  EXPECT_TRUE(quantize(SourceTensor::bf16("b.weight", b.data(), 1, 2), QuantFormat::kNf4, 1).ok());
  // -65504 alone is the largest fp16 magnitude and is accepted.
  v[4] = 0.0f;
  EXPECT_TRUE(quantize(SourceTensor::f32("o_proj.weight", v.data(), 2, 3), QuantFormat::kInt8Rowwise, 1).ok());
}

}  // namespace
}  // namespace ql::quant
