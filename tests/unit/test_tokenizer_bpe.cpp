// BPE merge order on tiny hand-made vocabularies (byte b has id b; merged
// tokens get 256, 257, ... in the order listed), so every id is known.
#include <gtest/gtest.h>

#include "core/text/tokenizer.h"
#include "tests/unit/test_tokenizer_fixture.h"

namespace {

using ql::text::Tokenizer;
using ql::text::testing::tiny_tokenizer;
using Ids = std::vector<int32_t>;
using Merges = std::vector<std::pair<std::string, std::string>>;

Tokenizer make(const nlohmann::json& j) {
  auto t = Tokenizer::from_json(j.dump(), "tiny.json");
  EXPECT_TRUE(t.ok()) << t.message();
  return std::move(t.value());
}

TEST(TokenizerBpe, BytesWithoutMergesAreTheirOwnIds) {
  const Tokenizer tok = make(tiny_tokenizer());
  EXPECT_EQ(tok.encode("ab"), (Ids{97, 98}));
  EXPECT_EQ(tok.encode("\xC3\xA9"), (Ids{0xC3, 0xA9}));  // é as two byte tokens
  EXPECT_EQ(tok.vocab_size(), 256u);
}

TEST(TokenizerBpe, SimpleMerge) {
  const Tokenizer tok = make(tiny_tokenizer(Merges{{"a", "b"}}));  // ab = 256
  EXPECT_EQ(tok.encode("ab"), Ids{256});
  EXPECT_EQ(tok.encode("abab"), (Ids{256, 256}));
  EXPECT_EQ(tok.encode("ba"), (Ids{98, 97}));
  // " b" is its own pre-token: no "a b" merge across the space.
  EXPECT_EQ(tok.encode("a b"), (Ids{97, 32, 98}));
}

TEST(TokenizerBpe, LowerRankMergesFirstWhereverItIs) {
  // ranks: b+c 0 (bc=256), a+b 1 (ab=257), ab+c 2 (abc=258)
  const Tokenizer tok = make(tiny_tokenizer(Merges{{"b", "c"}, {"a", "b"}, {"ab", "c"}}));
  // b+c wins over the leftmost a+b; "a"+"bc" is no merge.
  EXPECT_EQ(tok.encode("abc"), (Ids{97, 256}));
  // ranks: a+b 0 (ab=256), b+c 1 (bc=257), ab+c 2 (abc=258)
  const Tokenizer tok2 = make(tiny_tokenizer(Merges{{"a", "b"}, {"b", "c"}, {"ab", "c"}}));
  EXPECT_EQ(tok2.encode("abc"), Ids{258});
}

TEST(TokenizerBpe, EqualRanksMergeLeftmostFirst) {
  const Tokenizer tok = make(tiny_tokenizer(Merges{{"a", "a"}}));  // aa = 256
  EXPECT_EQ(tok.encode("aaa"), (Ids{256, 97}));
  EXPECT_EQ(tok.encode("aaaa"), (Ids{256, 256}));
  const Tokenizer tok2 = make(tiny_tokenizer(Merges{{"a", "a"}, {"aa", "aa"}}));  // aaaa = 257
  EXPECT_EQ(tok2.encode("aaaaa"), (Ids{257, 97}));
  EXPECT_EQ(tok2.encode(std::string(12, 'a')), (Ids{257, 257, 257}));
}

TEST(TokenizerBpe, MergesOverMultiByteCharacters) {
  // é is bytes C3 A9, written "Ã" and "©" in the byte alphabet.
  const Tokenizer tok = make(tiny_tokenizer(Merges{{"\xC3\x83", "\xC2\xA9"}}));
  EXPECT_EQ(tok.encode("\xC3\xA9"), Ids{256});
  EXPECT_EQ(tok.decode(Ids{256}), "\xC3\xA9");
  EXPECT_EQ(tok.token_bytes(256), "\xC3\xA9");
  // Half a character decodes to U+FFFD.
  EXPECT_EQ(tok.decode(Ids{0xC3}), "\xEF\xBF\xBD");
}

TEST(TokenizerBpe, StringAndPairMergeFormsAreEquivalent) {
  nlohmann::json j = tiny_tokenizer(Merges{{"a", "b"}, {"ab", "c"}});
  j["model"]["merges"] = nlohmann::json::array({"a b", "ab c"});
  const Tokenizer tok = make(j);
  EXPECT_EQ(tok.encode("abc"), Ids{257});
  EXPECT_EQ(tok.merge(1), (std::pair<std::string_view, std::string_view>{"ab", "c"}));
}

TEST(TokenizerBpe, ARepeatedMergeTakesItsLastRank) {
  // Hugging Face collects merges into a map, so the later duplicate wins:
  // a+b ends at rank 2, after b+c (rank 1).
  const Tokenizer tok = make(tiny_tokenizer(Merges{{"a", "b"}, {"b", "c"}, {"a", "b"}}));  // ab 256, bc 257
  EXPECT_EQ(tok.encode("abc"), (Ids{97, 257}));
}

TEST(TokenizerBpe, IgnoreMergesTakesWholeVocabularyWords) {
  nlohmann::json j = tiny_tokenizer(Merges{{"a", "b"}});  // ab 256
  j["model"]["vocab"]["abc"] = 300;                        // not reachable by merges
  EXPECT_EQ(make(j).encode("abc"), (Ids{256, 99}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(make(j).encode("abc"), Ids{300});
  EXPECT_EQ(make(j).encode("abcab"), (Ids{256, 99, 256}));
}

TEST(TokenizerBpe, LongWordsAndRepeatsGiveTheSameIds) {
  // The second encode of the same words comes from the cache.
  const Tokenizer tok = make(tiny_tokenizer(Merges{{"a", "b"}, {"ab", "ab"}}));  // ab 256, abab 257
  const std::string word(2000, 'x');
  EXPECT_EQ(tok.encode(word).size(), 2000u);
  EXPECT_EQ(tok.encode("ababab ababab"), (Ids{257, 256, 32, 257, 256}));
  EXPECT_EQ(tok.encode("ababab ababab"), (Ids{257, 256, 32, 257, 256}));
}

}  // namespace
