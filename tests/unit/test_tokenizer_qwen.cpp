// The real Qwen3 tokenizer.json: ids checked against docs/model.md §1.5 / §5.3 and
// against entries read from the file itself (vocab and merges).
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "core/text/tokenizer.h"
#include "tests/unit/test_tokenizer_fixture.h"

namespace {

using ql::text::SpecialTokens;
using ql::text::Tokenizer;
using Ids = std::vector<int32_t>;

class QwenTokenizer : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& loaded = ql::text::testing::real_tokenizer();
    ASSERT_TRUE(loaded.ok()) << loaded.message();
  }
  static const Tokenizer& tok() { return ql::text::testing::real_tokenizer().value(); }
};

TEST_F(QwenTokenizer, PlainTokenIdsFromTheSpec) {
  EXPECT_EQ(tok().encode("user"), Ids{872});
  EXPECT_EQ(tok().encode("assistant"), Ids{77091});
  EXPECT_EQ(tok().encode("system"), Ids{8948});
  EXPECT_EQ(tok().encode("\n"), Ids{198});
  EXPECT_EQ(tok().encode("\n\n"), Ids{271});
}

TEST_F(QwenTokenizer, EverySpecialTokenOfTheSpec) {
  const std::vector<std::pair<std::string, int32_t>> table = {
      {"<|endoftext|>", 151643},      {"<|im_start|>", 151644},       {"<|im_end|>", 151645},
      {"<|object_ref_start|>", 151646}, {"<|object_ref_end|>", 151647}, {"<|box_start|>", 151648},
      {"<|box_end|>", 151649},        {"<|quad_start|>", 151650},     {"<|quad_end|>", 151651},
      {"<|vision_start|>", 151652},   {"<|vision_end|>", 151653},     {"<|vision_pad|>", 151654},
      {"<|image_pad|>", 151655},      {"<|video_pad|>", 151656},      {"<tool_call>", 151657},
      {"</tool_call>", 151658},       {"<|fim_prefix|>", 151659},     {"<|fim_middle|>", 151660},
      {"<|fim_suffix|>", 151661},     {"<|fim_pad|>", 151662},        {"<|repo_name|>", 151663},
      {"<|file_sep|>", 151664},       {"<tool_response>", 151665},    {"</tool_response>", 151666},
      {"<think>", 151667},            {"</think>", 151668},
  };
  for (const auto& [text, id] : table) {
    EXPECT_EQ(tok().encode(text), Ids{id}) << text;
    EXPECT_EQ(tok().token_to_id(text), id) << text;
    EXPECT_EQ(tok().id_to_token(id), text);
    EXPECT_EQ(tok().decode(Ids{id}), text);
    // The spec's "special" column: 151643..151656 yes, 151657.. no.
    EXPECT_EQ(tok().is_special(id), id <= 151656) << text;
  }
  EXPECT_EQ(tok().added_tokens().size(), table.size());
}

TEST_F(QwenTokenizer, TextIsSplitAroundSpecialTokens) {
  // "hi" is vocab entry 6023 in the file.
  EXPECT_EQ(tok().encode("<|im_start|>user\nhi<|im_end|>\n"), (Ids{151644, 872, 198, 6023, 151645, 198}));
  // The rendered example of docs/model.md §5.1.
  const Ids ids = tok().encode(
      "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is shown in this "
      "picture?<|im_end|>\n<|im_start|>assistant\n");
  ASSERT_GE(ids.size(), 11u);
  EXPECT_EQ(Ids(ids.begin(), ids.begin() + 6), (Ids{151644, 872, 198, 151652, 151655, 151653}));
  EXPECT_EQ(Ids(ids.end() - 5, ids.end()), (Ids{151645, 198, 151644, 77091, 198}));
  // Repeated and adjacent special tokens.
  EXPECT_EQ(tok().encode("<|image_pad|><|image_pad|><|image_pad|>"), (Ids{151655, 151655, 151655}));
  // An unfinished marker is plain text, not a token.
  const Ids partial = tok().encode("<|im_end");
  EXPECT_GT(partial.size(), 1u);
  EXPECT_EQ(tok().decode(partial), "<|im_end");
}

TEST_F(QwenTokenizer, WordsThatAreVocabularyEntries) {
  // From the file: "Hello" 9707, "," 11, "Ġworld" 1879, "!" 0.
  EXPECT_EQ(tok().encode("Hello, world!"), (Ids{9707, 11, 1879, 0}));
}

TEST_F(QwenTokenizer, SpecialTokensAsTextAreNotRecognised) {
  const Ids as_text = tok().encode("<|im_end|>", SpecialTokens::kAsText);
  EXPECT_GT(as_text.size(), 1u);
  for (int32_t id : as_text) EXPECT_LT(id, 151643);
  EXPECT_EQ(tok().decode(as_text), "<|im_end|>");
  // Non-special added tokens are still found, as in Hugging Face.
  EXPECT_EQ(tok().encode("<think>", SpecialTokens::kAsText), Ids{151667});
}

TEST_F(QwenTokenizer, RoundTripsVariedText) {
  const std::vector<std::string> texts = {
      "",
      " ",
      "Hello, world!",
      "  two leading spaces and trailing   ",
      "line one\nline two\r\nline three\n\n\n",
      "\ttabs\tand\tmore\t",
      "I'm sure they'll say it's DON'T",
      "123456789 3.14159 -42 1e-10 0x1F",
      "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n",
      "人工智能正在改变世界。",
      "日本語とカタカナ、한국어도.",
      "Привет, мир!",
      "مرحبا بالعالم",
      "emoji 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵",
      "café naïve Øresund façade",
      "math: ∑∫√∞ ≠ ≤ ≥ ½ ①",
      "\u00a0non-breaking\u00a0and\u3000ideographic\u3000spaces",
      "zero\u200bwidth and \u2028 separators \u2029",
      std::string("nul\0byte", 8),
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
      "<think>\nreasoning\n</think>\n\nanswer",
      std::string(300, 'a'),
      "<html><body>&amp;</body></html>",
  };
  for (const std::string& s : texts) {
    EXPECT_EQ(tok().decode(tok().encode(s)), s) << s;
  }
}

TEST_F(QwenTokenizer, InputIsNormalizedToNfc) {
  // "e" + combining acute (NFD) encodes like the precomposed "é".
  EXPECT_EQ(tok().encode("caf" "e\xCC\x81"), tok().encode("caf\xC3\xA9"));
  EXPECT_EQ(tok().decode(tok().encode("e\xCC\x81")), "\xC3\xA9");
}

TEST_F(QwenTokenizer, InvalidUtf8InputIsReadAsReplacementCharacters) {
  // Each maximal invalid subsequence counts as one U+FFFD.
  EXPECT_EQ(tok().encode("a\xFF" "b"), tok().encode("a\xEF\xBF\xBD" "b"));
  EXPECT_EQ(tok().encode("x\xF0\x9F\x98"), tok().encode("x\xEF\xBF\xBD"));
  EXPECT_EQ(tok().encode("\xC0\xAF"), tok().encode("\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_EQ(tok().decode(tok().encode("ok\xFE")), "ok\xEF\xBF\xBD");
}

TEST_F(QwenTokenizer, DecodeSkipsSpecialTokensOnRequest) {
  const Ids ids = tok().encode("<|im_start|>user\n<think>x</think><|im_end|>");
  EXPECT_EQ(tok().decode(ids, /*skip_special=*/true), "user\n<think>x</think>");
  EXPECT_EQ(tok().decode(ids), "<|im_start|>user\n<think>x</think><|im_end|>");
}

TEST_F(QwenTokenizer, DecodeDropsUnknownIdsAndDecodeCheckedNamesThem) {
  EXPECT_EQ(tok().decode(Ids{872, 151669, -1, 151935, 198}), "user\n");
  auto high = tok().decode_checked(Ids{872, 151669});
  ASSERT_FALSE(high.ok());
  EXPECT_NE(high.message().find("151669"), std::string::npos) << high.message();
  EXPECT_NE(high.message().find("position 1"), std::string::npos) << high.message();
  auto negative = tok().decode_checked(Ids{-7});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.message().find("-7"), std::string::npos) << negative.message();
  auto fine = tok().decode_checked(Ids{872, 198});
  ASSERT_TRUE(fine.ok()) << fine.message();
  EXPECT_EQ(*fine, "user\n");
}

TEST_F(QwenTokenizer, VocabularyAccessors) {
  EXPECT_EQ(tok().vocab_size(), 151669u);
  EXPECT_TRUE(tok().is_valid_id(0));
  EXPECT_TRUE(tok().is_valid_id(151668));
  EXPECT_FALSE(tok().is_valid_id(151669));
  EXPECT_FALSE(tok().is_valid_id(-1));
  EXPECT_EQ(tok().id_to_token(220), "\xC4\xA0");  // "Ġ" stands for a space
  EXPECT_EQ(tok().token_bytes(220), " ");
  EXPECT_EQ(tok().token_bytes(198), "\n");
  EXPECT_EQ(tok().id_to_token(151669), "");
  EXPECT_EQ(tok().token_to_id("\xC4\xA0world"), 1879);
  EXPECT_EQ(tok().token_to_id("no such token"), std::nullopt);
  // docs/model.md §5.3: 151,387 merges; the file's first is ["Ġ", "Ġ"].
  EXPECT_EQ(tok().merge_count(), 151387u);
  EXPECT_EQ(tok().merge(0), (std::pair<std::string_view, std::string_view>{"\xC4\xA0", "\xC4\xA0"}));
}

TEST_F(QwenTokenizer, EncodesFromSeveralThreadsAtOnce) {
  // Threads share one tokenizer (and its word cache) while new words keep
  // arriving; every result must still be right.
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &wrong] {
      for (int i = 0; i < 300; ++i) {
        if (tok().encode("<|im_start|>user\nhi<|im_end|>\n") != Ids{151644, 872, 198, 6023, 151645, 198}) ++wrong;
        const std::string fresh = "word" + std::to_string(t * 1000 + i) + " z" + std::string(i % 7, 'q') + "!";
        if (tok().decode(tok().encode(fresh)) != fresh) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(QwenTokenizer, CopiesShareStateAndAgree) {
  const Tokenizer copy = tok();
  EXPECT_EQ(copy.encode("Hello, world!"), tok().encode("Hello, world!"));
  EXPECT_EQ(copy.source(), ql::text::testing::real_tokenizer_path());
}

}  // namespace
