#include "core/engine/image_fingerprint.h"

#include <cstring>

namespace ql::engine {
namespace {

// FNV-1a over 64-bit words: a large image is tens of MB of floats, so words
// rather than bytes; not cryptographic, collisions only cost a wrong reuse
// between two images with identical grids, which 64 bits make negligible.
constexpr uint64_t kOffset = 14695981039346656037ull;
constexpr uint64_t kPrime = 1099511628211ull;

uint64_t mix(uint64_t h, uint64_t word) { return (h ^ word) * kPrime; }

}  // namespace

uint64_t image_fingerprint(const vision::PreprocessedImage& image) {
  uint64_t h = kOffset;
  h = mix(h, static_cast<uint64_t>(image.grid_t));
  h = mix(h, static_cast<uint64_t>(image.grid_h));
  h = mix(h, static_cast<uint64_t>(image.grid_w));
  const auto* bytes = reinterpret_cast<const unsigned char*>(image.pixel_values.data());
  const size_t n = image.pixel_values.size() * sizeof(float);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    h = mix(h, word);
  }
  for (; i < n; ++i) h = mix(h, bytes[i]);
  return h;
}

}  // namespace ql::engine
