// Q4_0 (docs/formats.md §3.2): blocks of 32, fp16 d = max/-8 where max is the
// signed value of largest magnitude (the first on ties); code q = x/d + 8.5
// truncated, at most 15. Byte j: element j in the low nibble, j+16 high.
#include "core/io/gguf/strict_float.h"

#include <algorithm>
#include <cmath>

#include "core/io/gguf/block_bytes.h"
#include "core/io/gguf/block_quants.h"

namespace ql::io::gguf {

void quantize_q4_0(const float* x, uint8_t* y, int64_t k) {
  for (int64_t b = 0; b < k / 32; ++b, x += 32, y += 18) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    // A negative d maps the extreme value to code 0, so the grid's extra
    // level (-8 has no +8 partner) lands on the side of the largest value.
    const float d = max / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(y, d);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      const int q1 = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
      y[2 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_q4_0(const uint8_t* x, float* y, int64_t k) {
  for (int64_t b = 0; b < k / 32; ++b, x += 18, y += 32) {
    const float d = load_f16(x);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((x[2 + j] & 0x0F) - 8) * d;
      y[j + 16] = static_cast<float>((x[2 + j] >> 4) - 8) * d;
    }
  }
}

}  // namespace ql::io::gguf
