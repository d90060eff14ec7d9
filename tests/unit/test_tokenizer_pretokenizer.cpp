// Pre-tokenization: the Qwen Split pattern (docs/model.md §5.3) run with PCRE2 must
// cut text exactly where Oniguruma (Hugging Face's engine) cuts it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/text/pre_tokenizer.h"
#include "core/text/split_regex.h"

namespace {

using ql::text::JsonField;
using ql::text::PreTokenizer;
using ql::text::Span;
using Pieces = std::vector<std::string>;

// The pattern as docs/model.md §5.3 prints it.
const char* kQwenPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

nlohmann::json qwen_pre_tokenizer() {
  return {{"type", "Sequence"},
          {"pretokenizers",
           nlohmann::json::array({{{"type", "Split"},
                                   {"pattern", {{"Regex", kQwenPattern}}},
                                   {"behavior", "Isolated"},
                                   {"invert", false}},
                                  {{"type", "ByteLevel"},
                                   {"add_prefix_space", false},
                                   {"trim_offsets", false},
                                   {"use_regex", false}}})}};
}

Pieces split(const nlohmann::json& config, const std::string& text) {
  const std::string label = "test.json";
  auto pre = PreTokenizer::from_json(JsonField(config, label, "pre_tokenizer"));
  EXPECT_TRUE(pre.ok()) << pre.message();
  if (!pre.ok()) return {};
  std::vector<Span> spans;
  pre->split(text, spans);
  Pieces out;
  for (const Span& s : spans) out.push_back(text.substr(s.first, s.second - s.first));
  return out;
}

TEST(TokenizerPreTokenizer, QwenPatternOnEnglish) {
  EXPECT_EQ(split(qwen_pre_tokenizer(), "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split(qwen_pre_tokenizer(), "Hello, world!"), (Pieces{"Hello", ",", " world", "!"}));
  EXPECT_EQ(split(qwen_pre_tokenizer(), "I'm DON'T"), (Pieces{"I", "'m", " DON", "'T"}));
  EXPECT_EQ(split(qwen_pre_tokenizer(), "they'LL"), (Pieces{"they", "'LL"}));
}

TEST(TokenizerPreTokenizer, QwenPatternSplitsDigitsOneByOne) {
  EXPECT_EQ(split(qwen_pre_tokenizer(), "x 2024"), (Pieces{"x", " ", "2", "0", "2", "4"}));
}

TEST(TokenizerPreTokenizer, QwenPatternOnWhiteSpaceRuns) {
  // Spaces before a word: all but the last stand alone, the last joins it.
  EXPECT_EQ(split(qwen_pre_tokenizer(), "a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(split(qwen_pre_tokenizer(), "a\n\nb"), (Pieces{"a", "\n\n", "b"}));
  EXPECT_EQ(split(qwen_pre_tokenizer(), "a  \n  b"), (Pieces{"a", "  \n", " ", " b"}));
  EXPECT_EQ(split(qwen_pre_tokenizer(), "end  "), (Pieces{"end", "  "}));
  EXPECT_EQ(split(qwen_pre_tokenizer(), "x;\n\ny"), (Pieces{"x", ";\n\n", "y"}));
}

TEST(TokenizerPreTokenizer, QwenPatternOnCjkAndEmoji) {
  EXPECT_EQ(split(qwen_pre_tokenizer(), "你好世界"), (Pieces{"你好世界"}));
  EXPECT_EQ(split(qwen_pre_tokenizer(), "hi 😀😀!"), (Pieces{"hi", " 😀😀!"}));
}

TEST(TokenizerPreTokenizer, WhiteSpaceMeansUnicodeWhiteSpaceAsInOniguruma) {
  // U+180E is not White_Space (PCRE2's own \s would count it): "!" and U+180E
  // are both "other" characters and stay one piece.
  EXPECT_EQ(split(qwen_pre_tokenizer(), "!\xE1\xA0\x8E"), (Pieces{"!\xE1\xA0\x8E"}));
  // U+0085 (NEL) is White_Space: it separates the punctuation.
  EXPECT_EQ(split(qwen_pre_tokenizer(), "!\xC2\x85!"), (Pieces{"!", "\xC2\x85", "!"}));
  // No-break space is white space before a word.
  EXPECT_EQ(split(qwen_pre_tokenizer(), "a\xC2\xA0\xC2\xA0" "b"), (Pieces{"a", "\xC2\xA0", "\xC2\xA0" "b"}));
}

TEST(TokenizerPreTokenizer, SpaceEscapesAreRewritten) {
  EXPECT_EQ(ql::text::rewrite_oniguruma_spaces(R"(\s+(?!\S)|[^\s\p{L}])"),
            R"(\p{White_Space}+(?!\P{White_Space})|[^\p{White_Space}\p{L}])");
  // Escaped backslashes and quoted text are left alone.
  EXPECT_EQ(ql::text::rewrite_oniguruma_spaces(R"(\\s \Q\s\E \d)"), R"(\\s \Q\s\E \d)");
}

TEST(TokenizerPreTokenizer, ByteLevelWithRegexUsesTheGpt2Pattern) {
  const nlohmann::json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  EXPECT_EQ(split(byte_level, "Hello world 2024!"), (Pieces{"Hello", " world", " 2024", "!"}));
  // use_regex defaults to true, as in Hugging Face.
  const nlohmann::json bare = {{"type", "ByteLevel"}};
  EXPECT_EQ(split(bare, "it's"), (Pieces{"it", "'s"}));
}

TEST(TokenizerPreTokenizer, ByteLevelWithoutRegexKeepsTheTextWhole) {
  const nlohmann::json byte_level = {{"type", "ByteLevel"}, {"use_regex", false}};
  EXPECT_EQ(split(byte_level, "Hello world"), (Pieces{"Hello world"}));
}

TEST(TokenizerPreTokenizer, SplitsApplyInSequence) {
  // A literal "," split, then GPT-2 on each piece.
  const nlohmann::json config = {
      {"type", "Sequence"},
      {"pretokenizers", nlohmann::json::array({{{"type", "Split"},
                                                {"pattern", {{"String", ","}}},
                                                {"behavior", "Isolated"},
                                                {"invert", false}},
                                               {{"type", "ByteLevel"}, {"use_regex", true}}})}};
  EXPECT_EQ(split(config, "a b,c"), (Pieces{"a", " b", ",", "c"}));
  // A literal pattern is not a regex: "." matches only a dot.
  const nlohmann::json dot = {
      {"type", "Sequence"},
      {"pretokenizers", nlohmann::json::array({{{"type", "Split"},
                                                {"pattern", {{"String", "."}}},
                                                {"behavior", "Isolated"},
                                                {"invert", false}},
                                               {{"type", "ByteLevel"}, {"use_regex", false}}})}};
  EXPECT_EQ(split(dot, "ab.c"), (Pieces{"ab", ".", "c"}));
}

TEST(TokenizerPreTokenizer, VeryLongRunsDoNotExhaustTheMatcher) {
  // A megabyte of spaces and of newlines: the pieces still cover the text.
  for (const std::string& run : {std::string(1 << 20, ' '), std::string(1 << 20, '\n')}) {
    const std::string text = "a" + run + "b";
    const Pieces pieces = split(qwen_pre_tokenizer(), text);
    std::string joined;
    for (const auto& p : pieces) joined += p;
    EXPECT_EQ(joined, text);
    EXPECT_LE(pieces.size(), 4u);
  }
}

}  // namespace
