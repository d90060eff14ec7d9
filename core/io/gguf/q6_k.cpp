// Q6_K (docs/formats.md §3.6): super-blocks of 256 = 16 groups of 16 with signed
// 8-bit group scales under one fp16 d; 6-bit codes stored +32, low four bits
// in ql[128], high two in qh[64]. Layout: ql, qh, scales[16], d (210 bytes).
// llama-quantize's Q4_K_M gives it to output.weight and to the ffn_down /
// attn_v tensors of the layers use_more_bits() picks.
#include "core/io/gguf/strict_float.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/io/gguf/block_bytes.h"
#include "core/io/gguf/block_quants.h"
#include "core/io/gguf/k_quant_common.h"

namespace ql::io::gguf {
namespace {

constexpr int kBlockBytes = 210;

}  // namespace

void quantize_q6_k(const float* x, uint8_t* y, int64_t k) {
  int8_t L[kQK_K];
  float scales[16];
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kQK_K, y += kBlockBytes) {
    float max_scale = 0, max_abs_scale = 0;
    for (int g = 0; g < 16; ++g) {
      scales[g] = make_qx_quants(16, 32, x + 16 * g, L + 16 * g);
      const float abs_scale = std::fabs(scales[g]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[g];
      }
    }
    uint8_t* ql = y;
    uint8_t* qh = y + 128;
    int8_t* sc = reinterpret_cast<int8_t*>(y + 192);
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(y, 0, kBlockBytes);
      store_f16(y + 208, 0.f);
      continue;
    }
    // The signed largest scale maps to -128, so every group scale fits int8.
    const float iscale = -128.f / max_scale;
    store_f16(y + 208, 1 / iscale);
    for (int g = 0; g < 16; ++g) sc[g] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[g])));

    const float d_all = load_f16(y + 208);
    for (int g = 0; g < 16; ++g) {
      const float d = d_all * sc[g];
      if (d == 0.0f) continue;  // keeps the codes of the search, as ggml does
      for (int i = 0; i < 16; ++i) {
        const int l = nearest_int(x[16 * g + i] / d);
        L[16 * g + i] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
      }
    }
    for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
        const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
        ql[l] = static_cast<uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                     ((L[j + l + 96] >> 4) << 6));
      }
    }
  }
}

void dequantize_q6_k(const uint8_t* x, float* y, int64_t k) {
  for (int64_t b = 0; b < k / kQK_K; ++b, x += kBlockBytes) {
    const float d = load_f16(x + 208);
    const uint8_t* ql = x;
    const uint8_t* qh = x + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(x + 192);
    for (int n = 0; n < kQK_K; n += 128, ql += 64, qh += 32, sc += 8, y += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

}  // namespace ql::io::gguf
