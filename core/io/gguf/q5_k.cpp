// Q5_K (docs/formats.md §3.5): Q4_K's super-block with 5-bit codes; the fifth bits
// go to qh[32]. Layout: d, dmin, scales[12], qh[32], qs[128] (176 bytes).
// llama-quantize uses it for some tensors of the 4-bit mixes (attn_output
// with 8 experts, attn_v / early ffn_down in IQ4_NL files).
#include "core/io/gguf/strict_float.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/io/gguf/block_bytes.h"
#include "core/io/gguf/block_quants.h"
#include "core/io/gguf/k_quant_common.h"

namespace ql::io::gguf {
namespace {

constexpr int kBlockBytes = 176;

}  // namespace

void quantize_q5_k(const float* x, uint8_t* y, int64_t k) {
  uint8_t L[kQK_K];
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kQK_K, y += kBlockBytes) {
    quantize_k_superblock(x, 31, -0.5f, 0.1f, 15, y, L);
    uint8_t* qh = y + 16;
    uint8_t* ql = y + 48;
    std::memset(qh, 0, 32);
    uint8_t m1 = 1, m2 = 2;  // chunk c's two sub-blocks use bits 2c and 2c+1 of qh
    for (int n = 0; n < kQK_K; n += 64, ql += 32) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[n + j], l2 = L[n + j + 32];
        if (l1 > 15) {
          l1 -= 16;
          qh[j] |= m1;
        }
        if (l2 > 15) {
          l2 -= 16;
          qh[j] |= m2;
        }
        ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
      m1 = static_cast<uint8_t>(m1 << 2);
      m2 = static_cast<uint8_t>(m2 << 2);
    }
  }
}

void dequantize_q5_k(const uint8_t* x, float* y, int64_t k) {
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kBlockBytes) {
    const float d = load_f16(x), min = load_f16(x + 2);
    const uint8_t* qh = x + 16;
    const uint8_t* ql = x + 48;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < kQK_K; j += 64, ql += 32) {
      uint8_t sc, m;
      unpack_scale_min_k4(j / 32, x + 4, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      unpack_scale_min_k4(j / 32 + 1, x + 4, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

}  // namespace ql::io::gguf
