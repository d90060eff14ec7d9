// Q5_0 and Q5_1 (docs/formats.md §3.2): blocks of 32 with 5-bit codes; the low
// four bits are packed as Q4_0's nibbles, the fifth bit of element j is bit j
// of a little-endian u32 `qh`. Q5_0 is symmetric (d = max/-16, like Q4_0);
// Q5_1 stores a minimum and d = (max-min)/31. llama-quantize falls back to
// them when a row is too short for Q4_K / Q5_K.
#include "core/io/gguf/strict_float.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/io/gguf/block_bytes.h"
#include "core/io/gguf/block_quants.h"

namespace ql::io::gguf {
namespace {

// Packs 32 five-bit codes into qh (4 bytes) and qs (16 bytes).
void pack_5bit(const int* q, uint8_t* qh, uint8_t* qs) {
  uint32_t high = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
    high |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    high |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
  }
  store_u32(qh, high);
}

void unpack_5bit(const uint8_t* qh, const uint8_t* qs, int* q) {
  const uint32_t high = load_u32(qh);
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 0x0F) | static_cast<int>(((high >> j) & 1) << 4);
    q[j + 16] = (qs[j] >> 4) | static_cast<int>(((high >> (j + 16)) & 1) << 4);
  }
}

}  // namespace

void quantize_q5_0(const float* x, uint8_t* y, int64_t k) {
  for (int64_t b = 0; b < k / 32; ++b, x += 32, y += 22) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(y, d);
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = std::min(31, static_cast<int>(x[j] * id + 16.5f));
    pack_5bit(q, y + 2, y + 6);
  }
}

void dequantize_q5_0(const uint8_t* x, float* y, int64_t k) {
  for (int64_t b = 0; b < k / 32; ++b, x += 22, y += 32) {
    const float d = load_f16(x);
    int q[32];
    unpack_5bit(x + 2, x + 6, q);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(q[j] - 16) * d;
  }
}

void quantize_q5_1(const float* x, uint8_t* y, int64_t k) {
  for (int64_t b = 0; b < k / 32; ++b, x += 32, y += 24) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(y, d);
    store_f16(y + 2, min);
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = static_cast<int>((x[j] - min) * id + 0.5f);
    pack_5bit(q, y + 4, y + 8);
  }
}

void dequantize_q5_1(const uint8_t* x, float* y, int64_t k) {
  for (int64_t b = 0; b < k / 32; ++b, x += 24, y += 32) {
    const float d = load_f16(x);
    const float m = load_f16(x + 2);
    int q[32];
    unpack_5bit(x + 4, x + 8, q);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(q[j]) * d + m;
  }
}

}  // namespace ql::io::gguf
