// Added tokens are matched as Hugging Face tokenizers matches them: longest
// at the leftmost place, with the lstrip / rstrip / single_word / normalized
// flags. Tiny vocabulary: byte b has id b.
#include <gtest/gtest.h>

#include "core/text/tokenizer.h"
#include "tests/unit/test_tokenizer_fixture.h"

namespace {

using ql::text::SpecialTokens;
using ql::text::Tokenizer;
using ql::text::testing::added_token;
using ql::text::testing::tiny_tokenizer;
using Ids = std::vector<int32_t>;

Tokenizer make_with(const nlohmann::json& added, const nlohmann::json& normalizer = nullptr) {
  nlohmann::json j = tiny_tokenizer();
  j["added_tokens"] = added;
  j["normalizer"] = normalizer;
  auto t = Tokenizer::from_json(j.dump(), "added.json");
  EXPECT_TRUE(t.ok()) << t.message();
  return std::move(t.value());
}

TEST(TokenizerAddedTokens, LongestMatchAtTheLeftmostPlace) {
  const Tokenizer tok = make_with(nlohmann::json::array(
      {added_token(300, "<s>", true), added_token(302, "<s><s>", true), added_token(303, "xy", false),
       added_token(304, "yz", false)}));
  EXPECT_EQ(tok.encode("<s>"), Ids{300});
  EXPECT_EQ(tok.encode("<s><s>"), Ids{302});
  EXPECT_EQ(tok.encode("<s><s><s>"), (Ids{302, 300}));
  EXPECT_EQ(tok.encode("xyz"), (Ids{303, 'z'}));  // "xy" starts first, "yz" overlaps it
  EXPECT_EQ(tok.encode("a<s>b"), (Ids{'a', 300, 'b'}));
  EXPECT_EQ(tok.encode("<s"), (Ids{'<', 's'}));
}

TEST(TokenizerAddedTokens, LstripAndRstripSwallowWhiteSpace) {
  const Tokenizer tok = make_with(nlohmann::json::array(
      {added_token(305, "<L>", true, /*lstrip=*/true), added_token(306, "<R>", true, false, /*rstrip=*/true),
       added_token(307, "<N>", true)}));
  EXPECT_EQ(tok.encode("a  <L>b"), (Ids{'a', 305, 'b'}));
  EXPECT_EQ(tok.encode("a\n\t<L>"), (Ids{'a', 305}));
  EXPECT_EQ(tok.encode("a<R> \n b"), (Ids{'a', 306, 'b'}));
  // Without the flags the spaces stay text: "a", " " and " ", "b" pieces.
  EXPECT_EQ(tok.encode("a <N> b"), (Ids{'a', ' ', 307, ' ', 'b'}));
  // lstrip never takes space already swallowed by the previous token.
  EXPECT_EQ(tok.encode("<R>  <L>"), (Ids{306, 305}));
  // U+3000 (ideographic space) is white space too.
  EXPECT_EQ(tok.encode("a\xE3\x80\x80<L>"), (Ids{'a', 305}));
}

TEST(TokenizerAddedTokens, SingleWordMatchesOnlyWholeWords) {
  const Tokenizer tok = make_with(
      nlohmann::json::array({added_token(307, "hi", false, false, false, /*single_word=*/true)}));
  EXPECT_EQ(tok.encode("hi"), Ids{307});
  EXPECT_EQ(tok.encode("hi!"), (Ids{307, '!'}));
  EXPECT_EQ(tok.encode("say hi"), (Ids{'s', 'a', 'y', ' ', 307}));
  EXPECT_EQ(tok.encode("this"), (Ids{'t', 'h', 'i', 's'}));
  EXPECT_EQ(tok.encode("hi5"), (Ids{'h', 'i', '5'}));
  // A letter outside ASCII counts as a word character.
  EXPECT_EQ(tok.encode("\xC3\xA9hi"), (Ids{0xC3, 0xA9, 'h', 'i'}));
}

TEST(TokenizerAddedTokens, NormalizedTokensMatchTheNormalizedText) {
  const nlohmann::json nfc = {{"type", "NFC"}};
  // 308: Hangul jamo U+1100 U+1161 + "!", normalized=true: matched in NFC
  //      form U+AC00 "!" (가!).
  // 309: "o" + U+0301, normalized=false: matched only as written.
  const Tokenizer tok = make_with(
      nlohmann::json::array(
          {added_token(308, "\xE1\x84\x80\xE1\x85\xA1!", false, false, false, false, /*normalized=*/true),
           added_token(309, "o\xCC\x81", false)}),
      nfc);
  EXPECT_EQ(tok.encode("\xEA\xB0\x80!"), Ids{308});
  EXPECT_EQ(tok.encode("\xE1\x84\x80\xE1\x85\xA1!"), Ids{308});
  EXPECT_EQ(tok.encode("o\xCC\x81"), Ids{309});
  EXPECT_EQ(tok.encode("\xC3\xB3"), (Ids{0xC3, 0xB3}));  // composed ó is not 309
  // Decoding shows the normalized form, as Hugging Face's decoder sees it.
  EXPECT_EQ(tok.decode(Ids{308}), "\xEA\xB0\x80!");
  EXPECT_EQ(tok.decode(Ids{309}), "o\xCC\x81");
}

TEST(TokenizerAddedTokens, NormalizedTokenInTheByteAlphabetDecodesAsBytes) {
  // Hugging Face's quirk, kept: the NFC form "é?" consists of characters of
  // the byte alphabet (é stands for byte E9), so the decoder turns it into
  // the bytes E9 3F, and E9 alone is not UTF-8.
  const Tokenizer tok = make_with(
      nlohmann::json::array({added_token(310, "e\xCC\x81?", false, false, false, false, true)}),
      nlohmann::json{{"type", "NFC"}});
  EXPECT_EQ(tok.encode("\xC3\xA9?"), Ids{310});
  EXPECT_EQ(tok.decode(Ids{310}), "\xEF\xBF\xBD?");
}

TEST(TokenizerAddedTokens, SpecialTokensAsTextAndSkippedInDecode) {
  const Tokenizer tok =
      make_with(nlohmann::json::array({added_token(300, "<s>", true), added_token(301, "<sep>", false)}));
  EXPECT_EQ(tok.encode("<s>x<sep>"), (Ids{300, 'x', 301}));
  EXPECT_EQ(tok.encode("<s>x<sep>", SpecialTokens::kAsText), (Ids{'<', 's', '>', 'x', 301}));
  EXPECT_EQ(tok.decode(Ids{300, 'x', 301}, /*skip_special=*/true), "x<sep>");
  EXPECT_EQ(tok.decode(Ids{300, 'x', 301}), "<s>x<sep>");
  EXPECT_TRUE(tok.is_special(300));
  EXPECT_FALSE(tok.is_special(301));
  EXPECT_FALSE(tok.is_valid_id(299));  // the gap between 255 and 300
  EXPECT_EQ(tok.vocab_size(), 302u);
}

TEST(TokenizerAddedTokens, AddedTokenWithASpaceDecodesToItsOwnBytes) {
  // Not every character is in the byte alphabet, so the decoder keeps the
  // token's text as written.
  const Tokenizer tok = make_with(nlohmann::json::array({added_token(300, "<a b>", false)}));
  EXPECT_EQ(tok.encode("<a b>"), Ids{300});
  EXPECT_EQ(tok.decode(Ids{300}), "<a b>");
}

}  // namespace
