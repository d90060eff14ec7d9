// GGUF block formats (docs/formats.md §3): small blocks whose bytes are worked out
// by hand from the spec, then error bounds of dequantize(quantize(x)) on
// random rows for every type the exporter writes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/io/gguf/block_quants.h"
#include "tests/unit/gguf_test_support.h"

namespace ql::io::gguf {
namespace {

uint16_t u16_at(const std::vector<uint8_t>& b, size_t at) { return static_cast<uint16_t>(b[at] | (b[at + 1] << 8)); }

std::vector<uint8_t> encode(GgmlType type, const std::vector<float>& x) {
  auto row = ggml_row_bytes(type, static_cast<int64_t>(x.size()));
  EXPECT_TRUE(row);
  std::vector<uint8_t> out(*row);
  EXPECT_TRUE(quantize_rows(type, x.data(), 1, static_cast<int64_t>(x.size()), out.data()));
  return out;
}

std::vector<float> decode(GgmlType type, const std::vector<uint8_t>& bytes, size_t n) {
  std::vector<float> out(n);
  EXPECT_TRUE(dequantize_rows(type, bytes.data(), 1, static_cast<int64_t>(n), out.data()));
  return out;
}

// Q8_0: amax 15.875 makes d = 15.875/127 = 0.125 exactly (fp16 0x3000) and
// 1/d = 8, so each code is round(8x); x = k/8 with half-integer k shows the
// rounding: half away from zero (C roundf), 0.5 -> 1, -0.5 -> -1, 2.5 -> 3.
TEST(GgufQ8_0, HandComputedBlock) {
  std::vector<float> k = {-127, 127, 0, 1, -1, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 100};
  std::vector<int> codes = {-127, 127, 0, 1, -1, 1, -1, 2, 3, -3, 100};
  for (int j = static_cast<int>(k.size()); j < 32; ++j) {
    k.push_back(static_cast<float>(j - 16));
    codes.push_back(j - 16);
  }
  std::vector<float> x;
  for (float v : k) x.push_back(v * 0.125f);
  const auto b = encode(GgmlType::kQ8_0, x);
  ASSERT_EQ(b.size(), 34u);
  EXPECT_EQ(u16_at(b, 0), 0x3000);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(static_cast<int8_t>(b[2 + j]), codes[j]) << j;
  const auto y = decode(GgmlType::kQ8_0, b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], codes[j] * 0.125f) << j;
}

// Q4_0, block A: the largest magnitude is -8, so d = -8/-8 = 1 (fp16 0x3C00)
// and q = min(15, trunc(x + 8.5)). Block B: +8 comes first (ties keep the
// first), so d = -1 and x = -8 gives trunc(16.5) = 16, clamped to 15.
TEST(GgufQ4_0, HandComputedBlocks) {
  std::vector<float> a = {-8, 7, 7.4f, -0.5f, -0.6f, 0.5f, 0.49f};
  std::vector<int> qa = {0, 15, 15, 8, 7, 9, 8};
  for (int j = 7; j < 32; ++j) {
    a.push_back(static_cast<float>(j % 15 - 7));
    qa.push_back(j % 15 + 1);
  }
  std::vector<float> bx(32, 0.0f);
  bx[0] = 8, bx[1] = -8;
  std::vector<int> qb(32, 8);
  qb[0] = 0, qb[1] = 15;

  std::vector<float> x = a;
  x.insert(x.end(), bx.begin(), bx.end());
  const auto b = encode(GgmlType::kQ4_0, x);
  ASSERT_EQ(b.size(), 36u);
  EXPECT_EQ(u16_at(b, 0), 0x3C00);
  EXPECT_EQ(u16_at(b, 18), 0xBC00);
  for (int j = 0; j < 16; ++j) {  // element j in the low nibble, j + 16 in the high one
    EXPECT_EQ(b[2 + j], qa[j] | (qa[j + 16] << 4)) << j;
    EXPECT_EQ(b[20 + j], qb[j] | (qb[j + 16] << 4)) << j;
  }
  const auto y = decode(GgmlType::kQ4_0, b, 64);
  EXPECT_EQ(y[32], 8.0f);   // (0 - 8) * -1
  EXPECT_EQ(y[33], -7.0f);  // the clamped code: (15 - 8) * -1
  EXPECT_EQ(y[2], 7.0f);
}

// Q5_0: x = j - 16, largest magnitude -16 -> d = 1, q = x + 16 = j; the
// fifth bits of elements 16..31 are set: qh = 0xFFFF0000. Q5_1: x = 1 + j/2,
// min 1, d = 15.5/31 = 0.5, q = j.
TEST(GgufQ5, HandComputedBlocks) {
  std::vector<float> x0, x1;
  for (int j = 0; j < 32; ++j) {
    x0.push_back(static_cast<float>(j - 16));
    x1.push_back(1.0f + 0.5f * static_cast<float>(j));
  }
  const auto b0 = encode(GgmlType::kQ5_0, x0);
  ASSERT_EQ(b0.size(), 22u);
  EXPECT_EQ(u16_at(b0, 0), 0x3C00);
  EXPECT_EQ(std::vector<uint8_t>(b0.begin() + 2, b0.begin() + 6), (std::vector<uint8_t>{0x00, 0x00, 0xFF, 0xFF}));
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b0[6 + j], j | (j << 4)) << j;
  EXPECT_EQ(decode(GgmlType::kQ5_0, b0, 32), x0);

  const auto b1 = encode(GgmlType::kQ5_1, x1);
  ASSERT_EQ(b1.size(), 24u);
  EXPECT_EQ(u16_at(b1, 0), 0x3800);  // d = 0.5
  EXPECT_EQ(u16_at(b1, 2), 0x3C00);  // m = 1
  EXPECT_EQ(std::vector<uint8_t>(b1.begin() + 4, b1.begin() + 8), (std::vector<uint8_t>{0x00, 0x00, 0xFF, 0xFF}));
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b1[8 + j], j | (j << 4)) << j;
  EXPECT_EQ(decode(GgmlType::kQ5_1, b1, 32), x1);
}

// IQ4_NL: values exactly half the table entries. The least-squares search
// finds the perfect fit d = 0.5 (the largest possible (sum wqx)^2/sum wq^2),
// so the codes are the table indices: element j and j+16 both index j.
TEST(GgufIq4Nl, TableAndHandComputedBlock) {
  const int8_t table[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(kIq4NlValues[i], table[i]);
  std::vector<float> x;
  for (int j = 0; j < 32; ++j) x.push_back(0.5f * table[j % 16]);
  const auto b = encode(GgmlType::kIQ4_NL, x);
  ASSERT_EQ(b.size(), 18u);
  EXPECT_EQ(u16_at(b, 0), 0x3800);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b[2 + j], j | (j << 4)) << j;
  EXPECT_EQ(decode(GgmlType::kIQ4_NL, b, 32), x);
}

// Q4_K: every 32-value sub-block holds 0..15 twice, so the first grid
// (scale 1, min 0) fits exactly: the 6-bit scales are 63 and the mins 0,
// d = fp16(1/63) = 0x2410, dmin = 0. Packed scales (§3.3): bytes 0-3 hold
// 63 | (63 >> 4) << 6 = 0xFF, bytes 4-7 the mins 0, bytes 8-11 (63 & 15) = 0x0F.
TEST(GgufQ4K, HandComputedSuperBlock) {
  std::vector<float> x;
  for (int i = 0; i < 256; ++i) x.push_back(static_cast<float>(i % 16));
  const auto b = encode(GgmlType::kQ4_K, x);
  ASSERT_EQ(b.size(), 144u);
  EXPECT_EQ(u16_at(b, 0), 0x2410);
  EXPECT_EQ(u16_at(b, 2), 0x0000);
  const uint8_t scales[12] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x0F, 0x0F, 0x0F, 0x0F};
  for (int i = 0; i < 12; ++i) EXPECT_EQ(b[4 + i], scales[i]) << i;
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) EXPECT_EQ(b[16 + 32 * c + l], (l % 16) | ((l % 16) << 4)) << c << " " << l;
  const auto y = decode(GgmlType::kQ4_K, b, 256);
  for (int i = 0; i < 256; ++i) EXPECT_NEAR(y[i], x[i], 0.004f) << i;  // d * 63 = 0.99976
}

// Q6_K: each group of 16 has -32 first (its largest magnitude) and integers
// in [-31, 31], so every group scale is exactly 1, d = fp16(-1/128) = 0xA000
// and the int8 scales are -128; the 6-bit values are x + 32, unpacked here
// with the table of §3.6.
TEST(GgufQ6K, HandComputedSuperBlock) {
  std::vector<float> x;
  for (int g = 0; g < 16; ++g)
    for (int i = 0; i < 16; ++i) x.push_back(i == 0 ? -32.0f : static_cast<float>((g * 7 + i * 5) % 63 - 31));
  const auto b = encode(GgmlType::kQ6_K, x);
  ASSERT_EQ(b.size(), 210u);
  EXPECT_EQ(u16_at(b, 208), 0xA000);
  for (int g = 0; g < 16; ++g) EXPECT_EQ(static_cast<int8_t>(b[192 + g]), -128) << g;
  const uint8_t* ql = b.data();
  const uint8_t* qh = b.data() + 128;
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t* q = ql + 64 * h;
      const uint8_t hb = qh[32 * h + l];
      const int v[4] = {(q[l] & 0xF) | ((hb & 3) << 4), (q[l + 32] & 0xF) | (((hb >> 2) & 3) << 4),
                        (q[l] >> 4) | (((hb >> 4) & 3) << 4), (q[l + 32] >> 4) | (((hb >> 6) & 3) << 4)};
      for (int k = 0; k < 4; ++k) EXPECT_EQ(v[k], static_cast<int>(x[128 * h + l + 32 * k]) + 32) << h << l << k;
    }
  }
  EXPECT_EQ(decode(GgmlType::kQ6_K, b, 256), x);
}

TEST(GgufBlockFormats, AllZeroBlocksStayZero) {
  for (GgmlType t : {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_K,
                     GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kIQ4_NL}) {
    const std::vector<float> zeros(256, 0.0f);
    const auto b = encode(t, zeros);
    const auto y = decode(t, b, 256);
    for (float v : y) ASSERT_EQ(v, 0.0f) << ggml_type_name(t);
  }
}

// Random rows (about N(0, 1), bf16-exact like real weights): the relative
// RMS error of each format stays within what its step size allows, and the
// bytes do not depend on the number of threads.
TEST(GgufBlockFormats, RoundTripErrorBoundsAndThreadIndependence) {
  const int64_t rows = 32, cols = 512;
  testing::Bf16Source rng(11);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (float& v : x) v = rng.next(1.0f);
  struct Bound {
    GgmlType type;
    double max_rel_rmse;  // about 1/(2^bits) of the range, with margin
  };
  // bf16 values of this range are exact in fp16 too.
  for (const Bound& b : {Bound{GgmlType::kF16, 0.0}, Bound{GgmlType::kBF16, 0.0}, Bound{GgmlType::kF32, 0.0},
                         Bound{GgmlType::kQ8_0, 0.01}, Bound{GgmlType::kQ6_K, 0.03}, Bound{GgmlType::kQ5_K, 0.05},
                         Bound{GgmlType::kQ5_0, 0.05}, Bound{GgmlType::kQ5_1, 0.05}, Bound{GgmlType::kQ4_K, 0.1},
                         Bound{GgmlType::kQ4_0, 0.12}, Bound{GgmlType::kIQ4_NL, 0.1}}) {
    const uint64_t row = *ggml_row_bytes(b.type, cols);
    std::vector<uint8_t> one(row * rows), two(row * rows);
    ASSERT_TRUE(quantize_rows(b.type, x.data(), rows, cols, one.data(), 1));
    ASSERT_TRUE(quantize_rows(b.type, x.data(), rows, cols, two.data(), 2));
    EXPECT_EQ(one, two) << ggml_type_name(b.type);
    std::vector<float> y(x.size());
    ASSERT_TRUE(dequantize_rows(b.type, one.data(), rows, cols, y.data()));
    const double e = testing::rel_rmse(x, y);
    EXPECT_LE(e, b.max_rel_rmse) << ggml_type_name(b.type);
    if (b.max_rel_rmse > 0) {
      EXPECT_GT(e, 0.0) << ggml_type_name(b.type);
    }
  }
}

// Q8_0's error per value is at most half a step plus the fp16 rounding of
// the scale: below amax/127 of its block.
TEST(GgufQ8_0, PerValueErrorBound) {
  testing::Bf16Source rng(3);
  std::vector<float> x(1024);
  for (float& v : x) v = rng.next(0.3f);
  const auto y = decode(GgmlType::kQ8_0, encode(GgmlType::kQ8_0, x), x.size());
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    for (size_t j = 0; j < 32; ++j) EXPECT_LE(std::fabs(y[b + j] - x[b + j]), amax / 127) << b + j;
  }
}

TEST(GgufBlockFormats, RefusesRowsThatAreNotWholeBlocks) {
  std::vector<float> x(48, 1.0f);
  std::vector<uint8_t> out(256);
  auto st = quantize_rows(GgmlType::kQ8_0, x.data(), 1, 48, out.data());
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("48"), std::string::npos) << st.message();
  auto k = quantize_rows(GgmlType::kQ4_K, x.data(), 1, 32, out.data());
  ASSERT_FALSE(k);
  auto unsupported = quantize_rows(GgmlType::kQ2_K, x.data(), 1, 256, out.data());
  ASSERT_FALSE(unsupported);
  EXPECT_NE(unsupported.message().find("q2_K"), std::string::npos) << unsupported.message();
}

}  // namespace
}  // namespace ql::io::gguf
