#include "core/model/tensor_finiteness.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/common/float16.h"

namespace ql::model {
namespace {

struct Scan {
  size_t bad = 0;
  size_t first = 0;
  float first_value = 0;
};

// The exponent bits all set is NaN or infinity in each of the three formats:
// testing bits keeps a scan of tens of GB memory-bound.
template <typename Bits>
Scan scan_bits(const uint8_t* data, size_t n, Bits exponent_mask, float (*to_f32)(Bits)) {
  Scan s;
  for (size_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, data + i * sizeof(Bits), sizeof(Bits));  // shards may be unaligned
    if ((b & exponent_mask) == exponent_mask) {
      if (s.bad++ == 0) {
        s.first = i;
        s.first_value = to_f32(b);
      }
    }
  }
  return s;
}

float f32_of(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
float bf16_of(uint16_t b) { return bf16_to_f32(b); }
float f16_of(uint16_t b) { return f16_to_f32(b); }

}  // namespace

std::vector<std::string> non_finite_tensors(const Checkpoint& checkpoint) {
  std::vector<std::string> problems;
  for (const TensorView& t : checkpoint.tensors()) {
    const size_t n = static_cast<size_t>(t.numel());
    Scan s;
    switch (t.dtype) {
      case DType::kF32: s = scan_bits<uint32_t>(t.data, n, 0x7f800000u, f32_of); break;
      case DType::kBF16: s = scan_bits<uint16_t>(t.data, n, uint16_t{0x7f80}, bf16_of); break;
      case DType::kF16: s = scan_bits<uint16_t>(t.data, n, uint16_t{0x7c00}, f16_of); break;
      default: continue;
    }
    if (s.bad > 0)
      problems.push_back(fmt::format("{}: {} of its {} values are not finite (the first, element {}, is {})", t.name,
                                     s.bad, n, s.first, s.first_value));
  }
  return problems;
}

Status check_finite(const float* values, size_t count, const std::string& name) {
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(values[i])) return err("{}: element {} of {} is {}; it must be finite", name, i, count, values[i]);
  return {};
}

}  // namespace ql::model
