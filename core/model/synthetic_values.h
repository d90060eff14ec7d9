#pragma once
// The values of a synthetic checkpoint (docs/synthetic-models.md): every
// element is a pure function of (tensor seed, element index), so the CPU and
// the GPU (gpu/kernels/synthetic.cu) generate identical weights without
// storing them anywhere. Integer hashing, one int->float conversion, one
// power-of-two scaling and one fp32 multiply-add written as two roundings:
// nothing a compiler or a GPU could evaluate differently.
//   bits  = mix64(seed ^ mix64(index))
//   u     = float(int32(bits >> 32)) * 2^-31            in [-1, 1)
//   value = offset + scale * u                          (fp32, product then sum)
// mix64 is SplitMix64's finaliser (a well-known 64-bit mixing function).
#include <cstdint>

#include "core/common/float16.h"

namespace ql::model {

constexpr uint64_t synthetic_mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Element `index` (flattened over the whole tensor, stored order) of the
// tensor whose seed is `seed`.
inline float synthetic_value(uint64_t seed, uint64_t index, float offset, float scale) {
  const uint64_t bits = synthetic_mix64(seed ^ synthetic_mix64(index));
  const auto r = static_cast<int32_t>(static_cast<uint32_t>(bits >> 32));
  const float u = static_cast<float>(r) * 0x1.0p-31f;
  const volatile float product = scale * u;  // volatile: no fused multiply-add
  return offset + product;
}

inline uint16_t synthetic_bf16(uint64_t seed, uint64_t index, float offset, float scale) {
  return f32_to_bf16(synthetic_value(seed, index, offset, scale));
}

// A tensor's seed: FNV-1a over its name, mixed with the model's seed.
inline uint64_t synthetic_tensor_seed(uint64_t model_seed, const char* name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const char* p = name; *p; ++p) h = (h ^ static_cast<uint8_t>(*p)) * 0x100000001b3ull;
  return synthetic_mix64(h ^ synthetic_mix64(model_seed));
}

}  // namespace ql::model
