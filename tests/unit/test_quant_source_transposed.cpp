// A transposed source (bytes stored [cols, rows], the published fused-expert
// layout) reads as its transpose, so the loader quantizes an expert straight
// from the mapped checkpoint without transposing it into a copy first.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "core/common/float16.h"
#include "core/quant/quantized_weight.h"

namespace ql::quant {
namespace {

constexpr int64_t kRows = 5, kCols = 7;

// Element (r, c) of the logical [5, 7] matrix is r * 8 + c (exact in bf16),
// stored at c * kRows + r.
std::vector<uint16_t> stored_transposed_bf16() {
  std::vector<uint16_t> v(kRows * kCols);
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kCols; ++c) v[c * kRows + r] = f32_to_bf16(static_cast<float>(r * 8 + c));
  return v;
}

SourceTensor transposed(const char* name, const std::vector<uint16_t>& v) {
  SourceTensor s = SourceTensor::bf16(name, v.data(), kRows, kCols);
  s.transposed = true;
  return s;
}

TEST(QuantSourceTransposed, ReadsRowsOfTheLogicalMatrixFromAnyElement) {
  const auto v = stored_transposed_bf16();
  const SourceTensor s = transposed("experts.gate_up_proj[0]", v);
  // From element 10 (row 1, col 3) across a row end, 12 elements.
  std::vector<float> got(12);
  s.read_f32(10, 12, got.data());
  for (int64_t i = 0; i < 12; ++i) {
    const int64_t e = 10 + i;
    EXPECT_EQ(got[i], static_cast<float>((e / kCols) * 8 + e % kCols)) << "element " << e;
  }
}

TEST(QuantSourceTransposed, QuantizesAsTheRowMajorTranspose) {
  const auto v = stored_transposed_bf16();
  std::vector<uint16_t> row_major(kRows * kCols);
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kCols; ++c) row_major[r * kCols + c] = v[c * kRows + r];
  for (QuantFormat f : {QuantFormat::kF16, QuantFormat::kInt8Rowwise, QuantFormat::kNf4}) {
    auto a = quantize(transposed("t", v), f, 1);
    auto b = quantize(SourceTensor::bf16("t", row_major.data(), kRows, kCols), f, 1);
    ASSERT_TRUE(a.ok() && b.ok()) << quant_format_name(f);
    std::vector<float> da(kRows * kCols), db(kRows * kCols);
    (*a)->decode_rows(0, kRows, da.data());
    (*b)->decode_rows(0, kRows, db.data());
    EXPECT_EQ(da, db) << quant_format_name(f);
  }
}

TEST(QuantSourceTransposed, ABadElementIsReportedAtItsLogicalRowAndColumn) {
  auto v = stored_transposed_bf16();
  v[2 * kRows + 1] = 0x7f80;  // +inf at logical row 1, col 2 = element 9
  auto r = quantize(transposed("layers.0.mlp.experts.down_proj[3]", v), QuantFormat::kNf4, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("layers.0.mlp.experts.down_proj[3]: element 9 (row 1, col 2) is inf"), std::string::npos)
      << r.message();
}

}  // namespace
}  // namespace ql::quant
