// Q4_K (FORMATS.md §3.4): super-blocks of 256 = 8 sub-blocks of 32, each with
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
  uint8_t L[kQK_K], Laux[32];
  float weights[32], mins[8], scales[8];
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kQK_K, y += kBlockBytes) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      // Weights |x| + rms of the sub-block: large values matter more, but
      // small ones are not ignored.
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
      ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
      lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    }
    pack_scale_min_k4(ls, lm, y + 4);
    store_f16(y, max_scale / 63.f);
    store_f16(y + 2, max_min / 63.f);

    // Re-quantize against the scales as stored (fp16 super-scales, 6-bit codes).
    const float d_all = load_f16(y), dmin_all = load_f16(y + 2);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(j, y + 4, &sc, &m);
      const float d = d_all * sc;
      if (d == 0.0f) continue;  // keeps the codes of the search, as ggml does
      const float dm = dmin_all * m;
      for (int i = 0; i < 32; ++i) {
        const int l = nearest_int((x[32 * j + i] + dm) / d);
        L[32 * j + i] = static_cast<uint8_t>(std::max(0, std::min(15, l)));
      }
    }
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
