// Q8_0 (docs/formats.md §3.1): blocks of 32 values, fp16 scale d = absmax/127 then
// 32 int8 codes round(x/d), rounding half away from zero (C roundf).
#include "core/io/gguf/strict_float.h"

#include <algorithm>
#include <cmath>

#include "core/io/gguf/block_bytes.h"
#include "core/io/gguf/block_quants.h"

namespace ql::io::gguf {

void quantize_q8_0(const float* x, uint8_t* y, int64_t k) {
  for (int64_t b = 0; b < k / 32; ++b, x += 32, y += 34) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    // The codes use the fp32 scale; only the stored d is rounded to fp16.
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(y, d);
    for (int j = 0; j < 32; ++j) y[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::roundf(x[j] * id)));
  }
}

void dequantize_q8_0(const uint8_t* x, float* y, int64_t k) {
  for (int64_t b = 0; b < k / 32; ++b, x += 34, y += 32) {
    const float d = load_f16(x);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(x[2 + j])) * d;
  }
}

}  // namespace ql::io::gguf
