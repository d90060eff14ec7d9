// Streaming detokenization: every chunk is valid UTF-8, and the chunks joined
// equal decode() of all the ids, including characters split across tokens.
#include <gtest/gtest.h>

#include <optional>

#include "core/text/stream_detokenizer.h"
#include "core/text/utf8.h"
#include "tests/unit/test_tokenizer_fixture.h"

namespace {

using ql::text::StreamDetokenizer;
using ql::text::Tokenizer;
using Ids = std::vector<int32_t>;

const std::string R = "\xEF\xBF\xBD";  // U+FFFD

class TokenizerStream : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& loaded = ql::text::testing::real_tokenizer();
    ASSERT_TRUE(loaded.ok()) << loaded.message();
    qwen_ = &loaded.value();
    auto tiny = Tokenizer::from_json(ql::text::testing::tiny_tokenizer().dump(), "tiny.json");
    ASSERT_TRUE(tiny.ok()) << tiny.message();
    tiny_.emplace(std::move(*tiny));
  }
  const Tokenizer* qwen_ = nullptr;
  std::optional<Tokenizer> tiny_;  // byte b has id b
};

// Streams ids one at a time; checks each chunk; returns all chunks joined.
std::string stream_all(const Tokenizer& tok, const Ids& ids, bool skip_special = false) {
  StreamDetokenizer stream(tok, skip_special);
  std::string joined;
  for (int32_t id : ids) {
    const std::string chunk = stream.push(id);
    EXPECT_TRUE(ql::text::is_valid_utf8(chunk)) << "after id " << id;
    joined += chunk;
  }
  const std::string rest = stream.flush();
  EXPECT_TRUE(ql::text::is_valid_utf8(rest));
  return joined + rest;
}

TEST_F(TokenizerStream, CharactersSplitAcrossTokensAreHeldBack) {
  const std::vector<std::string> texts = {
      "👨‍👩‍👧‍👦 family",           // ZWJ sequence
      "🏳️‍🌈🇯🇵🇫🇷",                 // flags
      "𝕳𝖊𝖑𝖑𝖔 𠀀𠀁 𪚥",            // astral letters, rare CJK
      "人工智能正在改变世界。",
      "mixed 😀 text 👍🏽 with 한국어 and Ελληνικά",
  };
  size_t tokens_with_partial_characters = 0;
  for (const std::string& text : texts) {
    const Ids ids = qwen_->encode(text);
    for (int32_t id : ids) {
      if (!ql::text::is_valid_utf8(qwen_->token_bytes(id))) ++tokens_with_partial_characters;
    }
    EXPECT_EQ(stream_all(*qwen_, ids), qwen_->decode(ids)) << text;
    EXPECT_EQ(stream_all(*qwen_, ids), text);
  }
  // The texts really do split characters between tokens.
  EXPECT_GT(tokens_with_partial_characters, 5u);
}

TEST_F(TokenizerStream, ByteByByte) {
  StreamDetokenizer stream(*tiny_);
  EXPECT_EQ(stream.push(0xE2), "");
  EXPECT_EQ(stream.push(0x82), "");
  EXPECT_EQ(stream.push(0xAC), "\xE2\x82\xAC");  // €
  EXPECT_EQ(stream.push('a'), "a");
  EXPECT_EQ(stream.push(0xF0), "");
  EXPECT_EQ(stream.push(0x9F), "");
  EXPECT_EQ(stream.push(0x98), "");
  EXPECT_EQ(stream.push(0x80), "\xF0\x9F\x98\x80");  // 😀
}

TEST_F(TokenizerStream, InvalidBytesAreReplacedAsSoonAsTheyAreKnownBad) {
  StreamDetokenizer stream(*tiny_);
  EXPECT_EQ(stream.push(0xE2), "");
  EXPECT_EQ(stream.push('A'), R + "A");  // E2 can no longer be completed
  EXPECT_EQ(stream.push(0xFF), R);
  EXPECT_EQ(stream.push(0xF0), "");
  EXPECT_EQ(stream.push(0x9F), "");
  EXPECT_EQ(stream.flush(), R);  // an unfinished character at the end
  EXPECT_EQ(stream.flush(), "");
  // After a flush the stream starts afresh.
  EXPECT_EQ(stream.push('b'), "b");
}

TEST_F(TokenizerStream, JoinedChunksEqualDecodeEvenForBrokenSequences) {
  const Ids ids = {'a', 0xE2, 0x82, 'b', 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0xED, 0xA0, 0x80, 0xF0};
  EXPECT_EQ(stream_all(*tiny_, ids), tiny_->decode(ids));
}

TEST_F(TokenizerStream, SpecialTokensAndUnknownIds) {
  const Ids ids = qwen_->encode("<|im_start|>assistant\nHi 😀<|im_end|>");
  EXPECT_EQ(stream_all(*qwen_, ids), "<|im_start|>assistant\nHi 😀<|im_end|>");
  EXPECT_EQ(stream_all(*qwen_, ids, /*skip_special=*/true), "assistant\nHi 😀");
  // Ids without a token (e.g. the embedding's padding rows) are dropped.
  EXPECT_EQ(stream_all(*qwen_, Ids{872, 151900, -1, 198}), "user\n");
}

}  // namespace
