// Q4_K (docs/formats.md §3.4): super-blocks of 256 = 8 sub-blocks of 32, each with
// a 6-bit scale and 6-bit min under fp16 super-scales d and dmin; 4-bit codes.
// Layout: d, dmin, scales[12], qs[128] (144 bytes).
#include "core/io/gguf/strict_float.h"

#include <algorithm>
#include <cmath>

#include "core/io/gguf/block_bytes.h"
#include "core/io/gguf/block_quants.h"
#include "core/io/gguf/k_quant_common.h"

namespace ql::io::gguf {
namespace {

constexpr int kBlockBytes = 144;

}  // namespace

void quantize_q4_k(const float* x, uint8_t* y, int64_t k) {
  uint8_t L[kQK_K];
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kQK_K, y += kBlockBytes) {
    quantize_k_superblock(x, 15, -1.f, 0.1f, 20, y, L);
    uint8_t* q = y + 16;
    for (int j = 0; j < kQK_K; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void dequantize_q4_k(const uint8_t* x, float* y, int64_t k) {
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kBlockBytes) {
    const float d = load_f16(x), min = load_f16(x + 2);
    const uint8_t* q = x + 16;
    for (int j = 0; j < kQK_K; j += 64, q += 32) {
      uint8_t sc, m;
      unpack_scale_min_k4(j / 32, x + 4, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      unpack_scale_min_k4(j / 32 + 1, x + 4, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

}  // namespace ql::io::gguf
