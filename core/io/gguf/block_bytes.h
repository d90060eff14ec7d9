#pragma once
// Little-endian stores and loads of the fields inside GGUF blocks (the block
// bytes may sit at any alignment in a buffer or a mapped file).
#include <cstdint>
#include <cstring>

#include "core/common/float16.h"

namespace ql::io::gguf {

// fp16 fields round to nearest even, as ggml's GGML_FP32_TO_FP16.
inline void store_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}
inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
inline void store_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace ql::io::gguf
