// IQ4_NL (docs/formats.md §3.8): blocks of 32 with one fp16 scale and 4-bit
// indices into a fixed non-uniform table of 16 levels (the NF4-like GGUF
// type). Quantizer: ggml's quantize_iq4_nl without an importance matrix
// (weights x^2, 7 tries each side of the first guess); nibbles as Q4_0.
#include "core/io/gguf/strict_float.h"

#include <cmath>
#include <cstring>

#include "core/io/gguf/block_bytes.h"
#include "core/io/gguf/block_quants.h"
#include "core/io/gguf/k_quant_common.h"

namespace ql::io::gguf {
namespace {

constexpr int kTries = 7;

// Index of the table entry nearest to v; exact midpoints go to the upper entry.
int nearest_level(float v) {
  const int8_t* t = kIq4NlValues;
  if (v <= t[0]) return 0;
  if (v >= t[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (v < t[mid]) hi = mid;
    else lo = mid;
  }
  return v - t[hi - 1] < t[hi] - v ? hi - 1 : hi;
}

void quantize_block(const float* x, uint8_t* y) {
  float weight[32];
  uint8_t L[32];
  for (int j = 0; j < 32; ++j) weight[j] = x[j] * x[j];
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j) {
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  float scale = 0;
  if (amax >= kGroupMaxEps) {
    // First guess: the largest value on the outermost level (-127), then a
    // weighted least-squares scale for those indices.
    float d = -max / kIq4NlValues[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const int l = nearest_level(id * x[j]);
      const float q = kIq4NlValues[l];
      sumqx += weight[j] * q * x[j];
      sumq2 += weight[j] * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -kTries; itry <= kTries; ++itry) {
      id = (itry + kIq4NlValues[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < 32; ++j) {
        const int l = nearest_level(id * x[j]);
        const float q = kIq4NlValues[l];
        sumqx += weight[j] * q * x[j];
        sumq2 += weight[j] * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scale = d;
  }
  store_f16(y, scale);
  // Final indices against the fp32 scale (not the stored fp16 one), as ggml.
  const float id = scale != 0 ? 1 / scale : 0;
  for (int j = 0; j < 32; ++j) L[j] = static_cast<uint8_t>(nearest_level(id * x[j]));
  for (int j = 0; j < 16; ++j) y[2 + j] = static_cast<uint8_t>(L[j] | (L[16 + j] << 4));
}

}  // namespace

void quantize_iq4_nl(const float* x, uint8_t* y, int64_t k) {
  for (int64_t b = 0; b < k / 32; ++b) quantize_block(x + 32 * b, y + 18 * b);
}

void dequantize_iq4_nl(const uint8_t* x, float* y, int64_t k) {
  for (int64_t b = 0; b < k / 32; ++b, x += 18, y += 32) {
    const float d = load_f16(x);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * kIq4NlValues[x[2 + j] & 0xf];
      y[j + 16] = d * kIq4NlValues[x[2 + j] >> 4];
    }
  }
}

}  // namespace ql::io::gguf
