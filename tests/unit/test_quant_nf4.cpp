// NF4 with double quantization in bitsandbytes' layout (docs/formats.md §7.2, §7.3):
// the code table, thresholds with ties to the lower level, high-nibble-first
// packing, blocks of 64 over the flattened tensor (across rows, short last
// block, odd counts), all-zero blocks, and round-trip bounds on random weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <vector>

#include "core/common/float16.h"
#include "core/quant/nf4.h"
#include "core/quant/nf4_code_table.h"
#include "tests/unit/test_quant_reference.h"

namespace ql::quant {
namespace {

// docs/formats.md §7.2, index = code.
const std::vector<double> kSpecLevels = {
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
};
// docs/formats.md §7.2 decision thresholds.
const std::vector<double> kSpecThresholds = {
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544, -0.23460740596055984,
    -0.13791173323988914, -0.045525018125772476, 0.03979014977812767, 0.1202552504837513, 0.2035212516784668,
    0.2920137718319893, 0.3893125355243683, 0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
};
// The same thresholds as fp32 literals, which is how the CUDA decision tree
// compares: 4 of them differ by 1 ulp from the double rounded to fp32, because
// the double is exactly halfway between two floats (a midpoint of two fp32
// levels) while the 16-digit decimal is not.
const std::vector<float> kSpecThresholdsF32 = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f, -0.23460740596055984f,
    -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f, 0.1202552504837513f, 0.2035212516784668f,
    0.2920137718319893f, 0.3893125355243683f, 0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
};
// Dynamic-map entries used by the hand-made cases (docs/formats.md §7.3).
constexpr float kMap0 = -0.992968738f;    // index 0
constexpr float kMap35 = -0.500781238f;   // index 35; index 219 is its negation

float level(int code) { return static_cast<float>(kSpecLevels[code]); }

// Element i's code as the spec packs it: byte i/2, the even element in the high nibble.
int code_at(const Nf4Weight& w, int64_t i) { return i % 2 == 0 ? w.packed[i / 2] >> 4 : w.packed[i / 2] & 0x0f; }

Nf4Weight quantize_ok(const std::vector<float>& x, int64_t rows, int64_t cols, int threads = 1) {
  auto r = quantize_nf4(SourceTensor::f32("w", x.data(), rows, cols), threads);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? std::move(r).value() : Nf4Weight{};
}

std::vector<float> decode(const Nf4Weight& w, int64_t first_row, int64_t rows) {
  std::vector<float> out(static_cast<size_t>(rows * w.cols), -99.0f);
  decode_rows(w, first_row, rows, out.data());
  return out;
}

TEST(QuantNf4, CodeTableAndThresholdsAreTheSpecs) {
  const auto w = quantize_ok({0.5f, -0.25f}, 1, 2);
  for (int k = 0; k < 16; ++k) {
    EXPECT_EQ(w.quant_map[k], level(k)) << k;
    EXPECT_EQ(kNf4Levels[k], level(k)) << k;
  }
  for (int k = 0; k < 15; ++k) {
    EXPECT_EQ(kNf4Thresholds[k], kSpecThresholdsF32[k]) << k;
    // Each threshold is the midpoint of its two levels.
    EXPECT_NEAR(kSpecThresholds[k], (kSpecLevels[k] + kSpecLevels[k + 1]) / 2, 1e-15) << k;
  }
}

TEST(QuantNf4, EachLevelGetsItsCodeAndTheFirstElementIsTheHighNibble) {
  std::vector<float> x(16);
  for (int k = 0; k < 16; ++k) x[k] = level(k);  // absmax 1: scaled values are the levels
  const auto w = quantize_ok(x, 2, 8);
  EXPECT_EQ(w.packed, (std::vector<uint8_t>{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}));
  // One block: offset = its absmax, nested absmax 0, code of 0.0 -> exact scale 1.
  EXPECT_EQ(w.offset, 1.0f);
  EXPECT_EQ(w.nested_absmax, (std::vector<float>{0.0f}));
  EXPECT_EQ(w.absmax_codes, (std::vector<uint8_t>{127}));
  EXPECT_EQ(decode(w, 0, 2), x);
}

TEST(QuantNf4, ThresholdsTieToTheLowerLevel) {
  // Hand-made block: absmax 1, then values placed exactly on thresholds 7 and 0.
  const float t7 = kSpecThresholdsF32[7];
  const float t0 = kSpecThresholdsF32[0];
  const std::vector<float> x = {1.0f, t7, std::nextafter(t7, 1.0f), t0, std::nextafter(t0, -1.0f),
                                std::nextafter(t0, 1.0f), -1.0f, 0.0f};
  const auto w = quantize_ok(x, 1, 8);
  // codes 15, 7, 8, 0, 0, 1, 0, 7
  EXPECT_EQ(w.packed, (std::vector<uint8_t>{0xf7, 0x80, 0x01, 0x07}));
}

TEST(QuantNf4, EveryThresholdTiesDown) {
  std::vector<float> x = {1.0f};
  for (float t : kSpecThresholdsF32) {
    x.push_back(t);
    x.push_back(std::nextafter(t, 2.0f));
  }
  x.push_back(0.0f);  // 32 values
  const auto w = quantize_ok(x, 4, 8);
  for (int k = 0; k < 15; ++k) {
    EXPECT_EQ(code_at(w, 1 + 2 * k), k) << "on threshold " << k;
    EXPECT_EQ(code_at(w, 2 + 2 * k), k + 1) << "just above threshold " << k;
  }
}

// x[i] = (b + 1) * level(i % 16) with b = i / 64: block b has absmax b + 1 and
// element i has code i % 16, whatever the shape.
std::vector<float> staircase(int64_t count) {
  std::vector<float> x(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) x[i] = static_cast<float>(i / 64 + 1) * level(static_cast<int>(i % 16));
  return x;
}

TEST(QuantNf4, BlocksRunOverTheFlatTensorAcrossRows) {
  // cols = 100: 300 values in blocks [0,64) .. [256,300); row 1 starts inside block 1.
  const auto w = quantize_ok(staircase(300), 3, 100);
  ASSERT_EQ(w.packed.size(), 150u);
  for (int64_t i = 0; i < 300; ++i) ASSERT_EQ(code_at(w, i), i % 16) << i;
  // absmax {1,2,3,4,5}: offset 3, centred {-2,-1,0,1,2}, nested absmax 2,
  // scaled {-1,-0.5,0,0.5,1} -> map indices {0, 35, 127, 219, 255}.
  EXPECT_EQ(w.offset, 3.0f);
  EXPECT_EQ(w.nested_absmax, (std::vector<float>{2.0f}));
  EXPECT_EQ(w.absmax_codes, (std::vector<uint8_t>{0, 35, 127, 219, 255}));
  const float scale[5] = {kMap0 * 2.0f + 3.0f, kMap35 * 2.0f + 3.0f, 3.0f, -kMap35 * 2.0f + 3.0f, 5.0f};
  for (int b = 0; b < 5; ++b) EXPECT_EQ(nf4_block_scale(w, b), scale[b]) << b;

  const auto all = decode(w, 0, 3);
  for (int64_t i = 0; i < 300; ++i) ASSERT_EQ(all[i], level(i % 16) * scale[i / 64]) << i;
  const auto row1 = decode(w, 1, 1);  // elements 100..199: blocks 1, 2 and 3
  for (int64_t c = 0; c < 100; ++c) ASSERT_EQ(row1[c], level((100 + c) % 16) * scale[(100 + c) / 64]) << c;
}

TEST(QuantNf4, OddColumnsStartRowsOnTheLowNibble) {
  // cols = 33: 99 values (odd: the last byte's low nibble is padding), blocks [0,64), [64,99).
  const auto w = quantize_ok(staircase(99), 3, 33);
  ASSERT_EQ(w.packed.size(), 50u);
  EXPECT_EQ(w.packed[49], 0x20);  // element 98: code 98 % 16 = 2, then a zero pad nibble
  // absmax {1, 2}: offset 1.5, centred {-0.5, 0.5}, scaled {-1, 1} -> {0, 255}.
  EXPECT_EQ(w.absmax_codes, (std::vector<uint8_t>{0, 255}));
  const float scale[2] = {kMap0 * 0.5f + 1.5f, 2.0f};
  for (int64_t r = 0; r < 3; ++r) {
    const auto row = decode(w, r, 1);  // row 1 starts at element 33 (a low nibble) and crosses block 1
    for (int64_t c = 0; c < 33; ++c) {
      const int64_t i = r * 33 + c;
      ASSERT_EQ(row[c], level(i % 16) * scale[i / 64]) << i;
    }
  }
}

TEST(QuantNf4, AllZeroBlockDecodesToExactZeros) {
  std::vector<float> x(128, 0.0f);
  for (int i = 64; i < 128; ++i) x[i] = 2.0f * level(i % 16);
  const auto w = quantize_ok(x, 2, 64);
  for (int i = 0; i < 32; ++i) ASSERT_EQ(w.packed[i], 0x77) << i;  // code 7 = level 0.0
  // absmax {0, 2}: offset 1, centred {-1, 1}, codes {0, 255}: block 0's scale is
  // 1 - 0.992968738, not 0, so only the zero level keeps it exactly zero.
  EXPECT_EQ(w.absmax_codes, (std::vector<uint8_t>{0, 255}));
  EXPECT_NEAR(nf4_block_scale(w, 0), 1.0 - 0.992968738, 1e-7);
  EXPECT_EQ(decode(w, 0, 2), x);
}

// The bounds of the brief, checked element by element with the test's own
// arithmetic in double:
// - the absmax code is the nearest dynamic-map entry to (A - offset) / m;
// - each element's code is the nearest level to x / A;
// - |x - decoded| <= half the gap of the levels around x / A, times A, plus the
//   double-quantization error |A - A_dq| (|level| <= 1).
void check_round_trip(const std::vector<float>& x, int64_t rows, int64_t cols, const Nf4Weight& w) {
  const int64_t n = rows * cols;
  const int64_t blocks = (n + 63) / 64;
  ASSERT_EQ(w.absmax_codes.size(), static_cast<size_t>(blocks));
  ASSERT_EQ(w.nested_absmax.size(), static_cast<size_t>((blocks + 255) / 256));
  std::vector<float> absmax(static_cast<size_t>(blocks), 0.0f);
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t i = b * 64; i < std::min(n, b * 64 + 64); ++i) absmax[b] = std::fmax(absmax[b], std::fabs(x[i]));
  }
  // The mean in nf4.cpp's fixed order: chunks of 256 summed in double, then the chunk sums.
  double sum = 0.0;
  for (int64_t j = 0; j * 256 < blocks; ++j) {
    double chunk = 0.0;
    for (int64_t b = j * 256; b < std::min(blocks, j * 256 + 256); ++b) chunk += absmax[b];
    sum += chunk;
  }
  const auto offset = static_cast<float>(sum / static_cast<double>(blocks));
  EXPECT_EQ(w.offset, offset);
  // The exact mean (long double) and ours differ by rounding only.
  long double exact = 0;
  for (float a : absmax) exact += a;
  EXPECT_NEAR(offset, static_cast<double>(exact / blocks), 1e-6 * std::fabs(offset) + 1e-30);

  std::vector<double> scale_dq(static_cast<size_t>(blocks));
  for (int64_t j = 0; j * 256 < blocks; ++j) {
    float m = 0.0f;
    for (int64_t b = j * 256; b < std::min(blocks, j * 256 + 256); ++b) m = std::fmax(m, std::fabs(absmax[b] - offset));
    ASSERT_EQ(w.nested_absmax[j], m) << "nested block " << j;
    for (int64_t b = j * 256; b < std::min(blocks, j * 256 + 256); ++b) {
      const double s2 = (static_cast<double>(absmax[b]) - offset) / m;
      double nearest = 2.0;
      for (float v : w.nested_quant_map) nearest = std::fmin(nearest, std::fabs(s2 - v));
      const float chosen = w.nested_quant_map[w.absmax_codes[b]];
      ASSERT_LE(std::fabs(s2 - chosen), nearest + 1e-6) << "absmax code of block " << b;
      scale_dq[b] = static_cast<double>(chosen) * m + offset;
    }
  }

  const auto dq = decode(w, 0, rows);
  double worst = 0.0, sum_sq = 0.0, sum_sq_x = 0.0, worst_dq_scale = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = i / 64;
    const double a = absmax[b];
    const double s = x[i] / a;
    const int code = code_at(w, i);
    double nearest = 2.0;
    for (double l : kSpecLevels) nearest = std::fmin(nearest, std::fabs(s - l));
    ASSERT_LE(std::fabs(s - kSpecLevels[code]), nearest + 1e-6) << "element " << i;
    ASSERT_NEAR(dq[i], kSpecLevels[code] * scale_dq[b], 1e-6 * std::fabs(scale_dq[b])) << "element " << i;
    const int k = static_cast<int>(std::upper_bound(kSpecLevels.begin(), kSpecLevels.end(), s) - kSpecLevels.begin());
    const double half_gap = k == 0 || k == 16 ? 0.0 : (kSpecLevels[k] - kSpecLevels[k - 1]) / 2;
    const double scale_err = std::fabs(scale_dq[b] - a);
    const double err = std::fabs(static_cast<double>(x[i]) - dq[i]);
    ASSERT_LE(err, half_gap * a + scale_err + 1e-6 * a) << "element " << i;
    worst = std::fmax(worst, err / a);
    worst_dq_scale = std::fmax(worst_dq_scale, scale_err / a);
    sum_sq += err * err;
    sum_sq_x += static_cast<double>(x[i]) * x[i];
  }
  std::cout << "nf4 [" << rows << " x " << cols << "]: max |w - dq| / absmax = " << worst
            << ", max |A - A_dq| / A = " << worst_dq_scale << ", relative RMS error = " << std::sqrt(sum_sq / sum_sq_x)
            << "\n";
}

TEST(QuantNf4, RoundTripOnRandomWeightsWithTwoNestedBlocks) {
  const int64_t rows = 96, cols = 200;  // 300 blocks: nested blocks of 256 and 44
  auto x = testing::normal_values(static_cast<size_t>(rows * cols), 0.02f, 10);
  for (int64_t c = 0; c < cols; ++c) x[40 * cols + c] *= 10.0f;  // blocks with much larger absmax
  const auto w = quantize_ok(x, rows, cols, 3);
  EXPECT_EQ(w.rows, rows);
  EXPECT_EQ(w.cols, cols);
  EXPECT_EQ(w.dtype, SourceDType::kF32);
  check_round_trip(x, rows, cols, w);
}

TEST(QuantNf4, RoundTripOfBf16WeightsNotAMultipleOf64) {
  const int64_t rows = 45, cols = 4304 / 8;  // 24210 values: the last block is short
  const auto f = testing::normal_values(static_cast<size_t>(rows * cols), 0.03f, 11);
  std::vector<uint16_t> bf16(f.size());
  std::vector<float> exact(f.size());
  for (size_t i = 0; i < f.size(); ++i) {
    bf16[i] = f32_to_bf16(f[i]);
    exact[i] = bf16_to_f32(bf16[i]);
  }
  auto r = quantize_nf4(SourceTensor::bf16("w", bf16.data(), rows, cols), 2);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->dtype, SourceDType::kBF16);
  check_round_trip(exact, rows, cols, *r);
}

TEST(QuantNf4, TensorOf130And131Values) {
  for (int64_t count : {130, 131}) {
    const auto x = testing::normal_values(static_cast<size_t>(count), 1.0f, 9);
    const auto w = quantize_ok(x, count == 130 ? 10 : 1, count == 130 ? 13 : 131);
    EXPECT_EQ(w.packed.size(), static_cast<size_t>((count + 1) / 2));
    EXPECT_EQ(w.absmax_codes.size(), 3u);  // blocks of 64, 64 and 2 or 3
    EXPECT_EQ(w.nested_absmax.size(), 1u);
    if (count == 131) {
      EXPECT_EQ(w.packed.back() & 0x0f, 0) << "pad nibble";
    }
    // The short last block's own absmax scales it: its largest element gets code 0 or 15.
    const float a = std::max(std::fabs(x[128]), std::max(std::fabs(x[129]), count == 131 ? std::fabs(x[130]) : 0.0f));
    int extreme = 0;
    for (int64_t i = 128; i < count; ++i) extreme += std::fabs(x[i]) == a && (code_at(w, i) == 0 || code_at(w, i) == 15);
    EXPECT_EQ(extreme, 1);
    check_round_trip(x, count == 130 ? 10 : 1, count == 130 ? 13 : 131, w);
  }
}

}  // namespace
}  // namespace ql::quant
