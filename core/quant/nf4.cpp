#include "core/quant/nf4.h"

#include <algorithm>
#include <cmath>
#include <new>

#include "core/quant/nf4_code_table.h"
#include "core/quant/parallel_for.h"

namespace ql::quant {
namespace {

constexpr uint8_t kZeroLevelCode = 7;
constexpr uint8_t kZeroDynamicCode = 127;  // signed_dynamic_map()[127] == 0

// The fp32 multiplier that scales a block into [-1, 1]. bitsandbytes multiplies
// by the reciprocal; for a subnormal absmax the reciprocal overflows, and the
// caller divides instead.
float reciprocal_or_zero(float absmax) {
  const float inv = 1.0f / absmax;
  return std::isfinite(inv) ? inv : 0.0f;
}

// Quantizes one block of `count` (<= 64, even unless last) values into codes;
// returns its absmax.
float quantize_block(const float* x, int64_t count, uint8_t* codes) {
  float absmax = 0.0f;
  for (int64_t j = 0; j < count; ++j) absmax = std::max(absmax, std::fabs(x[j]));
  if (absmax == 0.0f) {
    std::fill(codes, codes + count, kZeroLevelCode);
    return absmax;
  }
  const float inv = reciprocal_or_zero(absmax);
  for (int64_t j = 0; j < count; ++j) codes[j] = nf4_code(inv != 0.0f ? x[j] * inv : x[j] / absmax);
  return absmax;
}

// First element in the high nibble; an odd tail gets a zero low nibble.
void pack_codes(const uint8_t* codes, int64_t count, uint8_t* packed) {
  for (int64_t j = 0; j < count; j += 2) {
    const uint8_t low = j + 1 < count ? codes[j + 1] : 0;
    packed[j / 2] = static_cast<uint8_t>((codes[j] << 4) | low);
  }
}

// Double quantization (docs/formats.md §7.3): absmax - offset in blocks of 256,
// each scaled by its own absmax onto the signed dynamic map.
void quantize_absmax(const std::vector<float>& absmax, Nf4Weight& w) {
  // The mean in a fixed order that a GPU reproduces bit for bit (one thread
  // per chunk, then one thread over the chunks): each run of 256 absmax
  // values (a nested block) summed left to right in double, then those sums
  // left to right, divided in double and rounded once to fp32. The offset is
  // stored in the quant state, so readers use this value whatever torch's
  // fp32 mean would have given.
  double sum = 0.0;
  for (size_t first = 0; first < absmax.size(); first += kNf4NestedBlockSize) {
    double chunk = 0.0;
    const size_t end = std::min(absmax.size(), first + kNf4NestedBlockSize);
    for (size_t i = first; i < end; ++i) chunk += absmax[i];
    sum += chunk;
  }
  w.offset = static_cast<float>(sum / static_cast<double>(absmax.size()));

  const auto n = static_cast<int64_t>(absmax.size());
  w.absmax_codes.resize(absmax.size());
  w.nested_absmax.resize(static_cast<size_t>((n + kNf4NestedBlockSize - 1) / kNf4NestedBlockSize));
  float centered[kNf4NestedBlockSize];
  for (int64_t b = 0; b * kNf4NestedBlockSize < n; ++b) {
    const int64_t first = b * kNf4NestedBlockSize;
    const int64_t count = std::min(kNf4NestedBlockSize, n - first);
    float m = 0.0f;
    for (int64_t j = 0; j < count; ++j) {
      centered[j] = absmax[first + j] - w.offset;
      m = std::max(m, std::fabs(centered[j]));
    }
    w.nested_absmax[b] = m;
    uint8_t* codes = w.absmax_codes.data() + first;
    if (m == 0.0f) {  // every absmax equals the offset: code 0.0, exact
      std::fill(codes, codes + count, kZeroDynamicCode);
      continue;
    }
    const float inv = reciprocal_or_zero(m);
    for (int64_t j = 0; j < count; ++j) {
      const float s = inv != 0.0f ? centered[j] * inv : centered[j] / m;
      codes[j] = nearest_dynamic_code(w.nested_quant_map, std::clamp(s, -1.0f, 1.0f));
    }
  }
}

}  // namespace

Result<Nf4Weight> quantize_nf4(const SourceTensor& src, int threads) {
  QL_TRY(validate_source(src));
  const int64_t numel = src.numel();
  const int64_t blocks = (numel + kNf4BlockSize - 1) / kNf4BlockSize;
  Nf4Weight w;
  w.rows = src.rows;
  w.cols = src.cols;
  w.dtype = src.dtype;
  std::copy(kNf4Levels.begin(), kNf4Levels.end(), w.quant_map.begin());
  w.nested_quant_map = signed_dynamic_map();
  try {
    w.packed.resize(static_cast<size_t>((numel + 1) / 2));
    std::vector<float> absmax(static_cast<size_t>(blocks));
    parallel_for(blocks, threads, kNf4BlockSize * 20.0, [&](int64_t begin, int64_t end) {
      float x[kNf4BlockSize];
      uint8_t codes[kNf4BlockSize];
      for (int64_t b = begin; b < end; ++b) {
        const int64_t first = b * kNf4BlockSize;  // even: a block starts on a byte
        const int64_t count = std::min(kNf4BlockSize, numel - first);
        src.read_f32(first, count, x);
        absmax[b] = quantize_block(x, count, codes);
        pack_codes(codes, count, w.packed.data() + first / 2);
      }
    });
    quantize_absmax(absmax, w);
  } catch (const std::bad_alloc&) {
    return internal_err("{}: out of memory quantizing {} values to NF4", src.name, numel);
  }
  return w;
}

float nf4_block_scale(const Nf4Weight& w, int64_t block) {
  // Two fp32 roundings (multiply, then add), as bitsandbytes dequantizes the
  // absmax and then adds the offset in a separate step.
  const float dequantized = w.nested_quant_map[w.absmax_codes[block]] * w.nested_absmax[block / kNf4NestedBlockSize];
  return dequantized + w.offset;
}

void decode_rows(const Nf4Weight& w, int64_t first_row, int64_t rows, float* out) {
  const int64_t begin = first_row * w.cols;
  const int64_t end = begin + rows * w.cols;
  for (int64_t i = begin; i < end;) {
    const int64_t block = i / kNf4BlockSize;
    const int64_t block_end = std::min(end, (block + 1) * kNf4BlockSize);
    // The block's 16 possible values: one multiply each, the same fp32 product
    // as quant_map[code] * scale per element.
    const float scale = nf4_block_scale(w, block);
    float value[16];
    for (int k = 0; k < 16; ++k) value[k] = w.quant_map[k] * scale;
    float* dst = out + (i - begin);
    if (i & 1) {  // the range starts on a low nibble
      *dst++ = value[w.packed[i / 2] & 0x0f];
      ++i;
    }
    const uint8_t* bytes = w.packed.data() + i / 2;
    const int64_t pairs = (block_end - i) / 2;
    for (int64_t p = 0; p < pairs; ++p) {
      dst[2 * p] = value[bytes[p] >> 4];
      dst[2 * p + 1] = value[bytes[p] & 0x0f];
    }
    i += 2 * pairs;
    if (i < block_end) {  // the range ends on a high nibble
      dst[2 * pairs] = value[bytes[pairs] >> 4];
      ++i;
    }
  }
}

}  // namespace ql::quant
