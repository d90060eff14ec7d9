// UTF-8 repair (maximal subparts -> U+FFFD, the Unicode standard's practice,
// which Rust from_utf8_lossy and Python errors="replace" follow), the stable
// prefix used by streaming, and the GPT-2 byte alphabet.
#include <gtest/gtest.h>

#include "core/text/byte_level.h"
#include "core/text/utf8.h"

namespace {

using namespace ql::text;

const std::string R = "\xEF\xBF\xBD";  // U+FFFD

TEST(TokenizerUtf8, ValidTextIsUnchanged) {
  for (const std::string s : {"", "plain", "caf\xC3\xA9", "\xE4\xBD\xA0\xE5\xA5\xBD", "\xF0\x9F\x98\x80",
                              "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(is_valid_utf8(s)) << s;
    EXPECT_EQ(to_valid_utf8(s), s);
  }
}

TEST(TokenizerUtf8, MaximalSubpartsBecomeOneReplacementEach) {
  // The example of the Unicode standard, ch. 3 ("U+FFFD Substitution of
  // Maximal Subparts"): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
  EXPECT_EQ(to_valid_utf8("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + R + R + R + "b" + R + "c" + R + R + "d");
  EXPECT_EQ(to_valid_utf8("\xF0\x9F\x98"), R);        // truncated 4-byte character
  EXPECT_EQ(to_valid_utf8("\xC0\xAF"), R + R);        // overlong: C0 never starts a character
  EXPECT_EQ(to_valid_utf8("\xED\xA0\x80"), R + R + R);  // a surrogate
  EXPECT_EQ(to_valid_utf8("\xF4\x90\x80\x80"), R + R + R + R);  // above U+10FFFF
  EXPECT_EQ(to_valid_utf8("\xE0\x80\x41"), R + R + "A");
  EXPECT_FALSE(is_valid_utf8("\xF0\x9F\x98"));
  EXPECT_FALSE(is_valid_utf8("ok\xFF"));
}

TEST(TokenizerUtf8, StablePrefixHoldsBackOnlyAnUnfinishedCharacter) {
  EXPECT_EQ(utf8_stable_prefix("abc"), 3u);
  EXPECT_EQ(utf8_stable_prefix("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(utf8_stable_prefix("ab\xF0\x9F\x98\x80"), 6u);
  EXPECT_EQ(utf8_stable_prefix("\xE4"), 0u);
  // Invalid bytes can never be completed: nothing to wait for.
  EXPECT_EQ(utf8_stable_prefix("ab\xFF"), 3u);
  EXPECT_EQ(utf8_stable_prefix("\xE0\x80"), 2u);
  EXPECT_EQ(utf8_stable_prefix("\xC3\xF0\x9F"), 1u);
}

TEST(TokenizerUtf8, AppendEncodesEveryLength) {
  std::string s;
  append_utf8(s, U'A');
  append_utf8(s, 0xE9);
  append_utf8(s, 0x4F60);
  append_utf8(s, 0x1F600);
  EXPECT_EQ(s, "A\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80");
}

TEST(TokenizerUtf8, ByteAlphabetOfGpt2) {
  EXPECT_EQ(byte_to_code_point(' '), 0x120u);   // Ġ
  EXPECT_EQ(byte_to_code_point('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(byte_to_code_point(0x00), 0x100u);  // Ā
  EXPECT_EQ(byte_to_code_point(0x7F), 0x121u);
  EXPECT_EQ(byte_to_code_point(0xAD), 0x143u);  // the last of the 68 remapped bytes
  EXPECT_EQ(byte_to_code_point('A'), static_cast<char32_t>('A'));
  EXPECT_EQ(byte_to_code_point(0xE9), 0xE9u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(code_point_to_byte(byte_to_code_point(b)), b);
  EXPECT_EQ(code_point_to_byte(' '), std::nullopt);  // space itself is not in the alphabet
  EXPECT_EQ(byte_level_encode(" hi\n"), "\xC4\xA0hi\xC4\x8A");
}

TEST(TokenizerUtf8, ByteLevelTokenDecoding) {
  EXPECT_EQ(byte_level_decode_token("\xC4\xA0world"), " world");
  EXPECT_EQ(byte_level_decode_token("\xC3\x83\xC2\xA9"), "\xC3\xA9");  // "Ã©" stands for é
  // A character outside the alphabet: the token is kept as written.
  EXPECT_EQ(byte_level_decode_token("<a b>"), "<a b>");
  EXPECT_EQ(byte_level_decode_token("\xE4\xBD\xA0"), "\xE4\xBD\xA0");
}

TEST(TokenizerUtf8, UnicodeWhiteSpace) {
  for (char32_t c : {0x09, 0x0A, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x200A, 0x2028, 0x202F, 0x3000}) {
    EXPECT_TRUE(is_unicode_white_space(c)) << static_cast<uint32_t>(c);
  }
  for (char32_t c : {0x41, 0x180E, 0x200B, 0xFEFF, 0x1C}) {
    EXPECT_FALSE(is_unicode_white_space(c)) << static_cast<uint32_t>(c);
  }
}

}  // namespace
