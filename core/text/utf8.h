#pragma once
// UTF-8 helpers shared by the tokenizer and the streaming detokenizer.
// Invalid input is repaired the way Rust's String::from_utf8_lossy and
// Python's bytes.decode(errors="replace") repair it (Unicode's "maximal
// subpart" practice: each maximal invalid subsequence becomes one U+FFFD), so
// our decode output is byte-identical to Hugging Face tokenizers' decode.
#include <cstddef>
#include <string>
#include <string_view>

namespace ql::text {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// One step of UTF-8 decoding at a position.
struct Utf8Step {
  enum Kind { kValid, kInvalid, kTruncated };
  Kind kind;
  size_t length;     // bytes consumed: the whole character, or the maximal invalid subpart
  char32_t code_point;  // meaningful only for kValid
};

// Decodes the character starting at s[pos] (pos < s.size()). kTruncated means
// the bytes up to the end of s are a valid but unfinished sequence.
Utf8Step utf8_step(std::string_view s, size_t pos);

bool is_valid_utf8(std::string_view s);

// s with every invalid or truncated sequence replaced by U+FFFD.
std::string to_valid_utf8(std::string_view s);

// Length of the prefix of s that later bytes cannot change: everything except
// a trailing valid-but-unfinished sequence (at most 3 bytes).
size_t utf8_stable_prefix(std::string_view s);

void append_utf8(std::string& out, char32_t code_point);

// Unicode's White_Space property (what \s means in Oniguruma and Rust regex).
bool is_unicode_white_space(char32_t c);

}  // namespace ql::text
