#include "core/text/byte_level.h"

#include <array>

#include "core/text/utf8.h"

namespace ql::text {

namespace {

bool is_shown_as_itself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Alphabet {
  std::array<char32_t, 256> to_cp{};
  std::array<int16_t, 512> to_byte{};  // every alphabet code point is < 512; -1 = none

  Alphabet() {
    to_byte.fill(-1);
    // Bytes not shown as themselves take U+0100, U+0101, ... in byte order.
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      to_cp[b] = is_shown_as_itself(b) ? static_cast<char32_t>(b) : next++;
      to_byte[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

char32_t byte_to_code_point(uint8_t byte) { return alphabet().to_cp[byte]; }

std::optional<uint8_t> code_point_to_byte(char32_t cp) {
  if (cp >= 512) return std::nullopt;
  const int16_t b = alphabet().to_byte[cp];
  if (b < 0) return std::nullopt;
  return static_cast<uint8_t>(b);
}

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, byte_to_code_point(static_cast<uint8_t>(c)));
  return out;
}

std::string byte_level_decode_token(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    const Utf8Step step = utf8_step(token, pos);
    const auto byte = step.kind == Utf8Step::kValid ? code_point_to_byte(step.code_point)
                                                    : std::nullopt;
    if (!byte) return std::string(token);
    out.push_back(static_cast<char>(*byte));
    pos += step.length;
  }
  return out;
}

}  // namespace ql::text
