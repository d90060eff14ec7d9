#pragma once
// The GPT-2 byte-level alphabet: every byte is shown as one printable code
// point (printable Latin-1 bytes as themselves, the rest as U+0100 upwards,
// e.g. space -> U+0120 'Ġ', '\n' -> U+010A 'Ċ'). Vocabulary strings of a
// byte-level BPE are written in this alphabet.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ql::text {

char32_t byte_to_code_point(uint8_t byte);
std::optional<uint8_t> code_point_to_byte(char32_t code_point);

// The alphabet form of raw bytes, e.g. " hi" -> "Ġhi".
std::string byte_level_encode(std::string_view bytes);

// The bytes a token string stands for, as Hugging Face's ByteLevel decoder
// computes them: if every character of the token is in the alphabet, the
// bytes it maps to; otherwise (e.g. an added token such as "<think> x" with a
// plain space) the token's own UTF-8 bytes, unchanged.
std::string byte_level_decode_token(std::string_view token);

}  // namespace ql::text
