#include "core/quant/dense16.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <new>

#include "core/common/float16.h"
#include "core/quant/parallel_for.h"

namespace ql::quant {
namespace {

constexpr int64_t kChunk = 4096;  // elements read into fp32 at a time

bool bits_are_inf(uint16_t h, Dense16Type t) {
  return t == Dense16Type::kF16 ? (h & 0x7fffu) == 0x7c00u : (h & 0x7fffu) == 0x7f80u;
}
bool bits_are_zero(uint16_t h) { return (h & 0x7fffu) == 0; }
bool bits_are_subnormal(uint16_t h, Dense16Type t) {
  const uint16_t exp_mask = t == Dense16Type::kF16 ? 0x7c00u : 0x7f80u;
  return (h & exp_mask) == 0 && !bits_are_zero(h);
}

uint16_t to_bits(float v, Dense16Type t) { return t == Dense16Type::kF16 ? f32_to_f16(v) : f32_to_bf16(v); }

}  // namespace

Result<Dense16Conversion> quantize_dense16(const SourceTensor& src, Dense16Type type, int threads) {
  QL_TRY(validate_source(src));
  Dense16Conversion out;
  try {
    out.weight.bits.resize(static_cast<size_t>(src.numel()));
  } catch (const std::bad_alloc&) {
    return internal_err("{}: out of memory converting {} values to 16 bits", src.name, src.numel());
  }
  out.weight.type = type;
  out.weight.rows = src.rows;
  out.weight.cols = src.cols;

  std::atomic<int64_t> overflowed{0}, flushed{0}, subnormal{0};
  const int64_t chunks = (src.numel() + kChunk - 1) / kChunk;
  parallel_for(chunks, threads, kChunk * 4.0, [&](int64_t begin, int64_t end) {
    float buf[kChunk];
    int64_t o = 0, f = 0, s = 0;
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      const int64_t first = chunk * kChunk;
      const int64_t count = std::min(kChunk, src.numel() - first);
      src.read_f32(first, count, buf);
      uint16_t* dst = out.weight.bits.data() + first;
      for (int64_t i = 0; i < count; ++i) {
        const uint16_t h = to_bits(buf[i], type);
        dst[i] = h;
        if (buf[i] == 0.0f) continue;  // the source is finite (validated): only non-zeros can lose
        o += bits_are_inf(h, type);
        f += bits_are_zero(h);
        s += bits_are_subnormal(h, type);
      }
    }
    overflowed += o;
    flushed += f;
    subnormal += s;
  });
  out.report = {overflowed.load(), flushed.load(), subnormal.load()};
  return out;
}

void decode_rows(const Dense16Weight& w, int64_t first_row, int64_t rows, float* out) {
  const uint16_t* src = w.bits.data() + first_row * w.cols;
  const int64_t n = rows * w.cols;
  if (w.type == Dense16Type::kF16) {
    for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(src[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(src[i]);
  }
}

}  // namespace ql::quant
