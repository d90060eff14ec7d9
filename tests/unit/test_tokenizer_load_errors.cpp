// Every kind of bad tokenizer.json is refused with one line naming the file,
// the field and, where there is one, the offending value.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/text/tokenizer.h"
#include "tests/unit/test_tokenizer_fixture.h"

namespace {

using ql::text::Tokenizer;
using ql::text::testing::added_token;
using ql::text::testing::tiny_tokenizer;
using json = nlohmann::json;

std::string error_of_text(const std::string& text) {
  auto t = Tokenizer::from_json(text, "bad.json");
  if (t.ok()) return "<loaded without error>";
  return t.message();
}
std::string error_of(const json& j) { return error_of_text(j.dump()); }

// The message is one line, names the file first, and holds every fragment.
void expect_error(const std::string& message, std::initializer_list<std::string> fragments) {
  EXPECT_EQ(message.rfind("bad.json: ", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  for (const std::string& f : fragments) EXPECT_NE(message.find(f), std::string::npos) << f << " in: " << message;
}

json with_merges() { return tiny_tokenizer({{"a", "b"}}); }

TEST(TokenizerLoadErrors, NotJson) {
  expect_error(error_of_text("this is not json"), {"not valid JSON"});
  expect_error(error_of_text("{\"model\": "), {"not valid JSON"});
  expect_error(error_of_text(""), {"not valid JSON"});
}

TEST(TokenizerLoadErrors, TopLevelNotAnObject) {
  expect_error(error_of(json::array({1, 2})), {"top level", "an array"});
}

TEST(TokenizerLoadErrors, UnknownVersion) {
  json j = with_merges();
  j["version"] = "2.0";
  expect_error(error_of(j), {"version", "\"2.0\""});
}

TEST(TokenizerLoadErrors, ModelMissingOrNotBpe) {
  json j = with_merges();
  j.erase("model");
  expect_error(error_of(j), {"model: missing"});
  j = with_merges();
  j["model"]["type"] = "WordPiece";
  expect_error(error_of(j), {"model.type", "\"WordPiece\""});
  j = with_merges();
  j["model"].erase("type");
  expect_error(error_of(j), {"model.type: missing"});
  j = with_merges();
  j["model"] = "BPE";
  expect_error(error_of(j), {"model", "expected an object"});
}

TEST(TokenizerLoadErrors, VocabMissingOrMalformed) {
  json j = with_merges();
  j["model"].erase("vocab");
  expect_error(error_of(j), {"model.vocab: missing"});
  j = with_merges();
  j["model"]["vocab"] = json::array();
  expect_error(error_of(j), {"model.vocab", "an array"});
  j = with_merges();
  j["model"]["vocab"]["zz"] = "seven";
  expect_error(error_of(j), {"model.vocab", "\"zz\"", "integer"});
  j = with_merges();
  j["model"]["vocab"]["zz"] = -3;
  expect_error(error_of(j), {"model.vocab", "\"zz\"", "-3"});
  j = with_merges();
  j["model"]["vocab"]["zz"] = 4000000000;
  expect_error(error_of(j), {"model.vocab", "\"zz\"", "4000000000"});
  j = with_merges();
  j["model"]["vocab"]["zz"] = 2.5;
  expect_error(error_of(j), {"model.vocab", "\"zz\"", "2.5"});
  j = with_merges();
  j["model"]["vocab"]["zz"] = 97;  // "a" already has 97
  expect_error(error_of(j), {"model.vocab", "id 97", "\"a\"", "\"zz\""});
}

TEST(TokenizerLoadErrors, VocabWithARepeatedToken) {
  // JSON allows a key twice; a vocabulary must not.
  std::string text = with_merges().dump();
  const std::string vocab_start = "\"vocab\":{";
  const size_t at = text.find(vocab_start);
  ASSERT_NE(at, std::string::npos);
  text.insert(at + vocab_start.size(), "\"a\":400,");
  expect_error(error_of_text(text), {"model.vocab", "\"a\"", "twice"});
}

TEST(TokenizerLoadErrors, VocabWithoutEveryByte) {
  json j = with_merges();
  j["model"]["vocab"].erase("q");
  expect_error(error_of(j), {"model.vocab", "\"q\"", "0x71", "missing"});
}

TEST(TokenizerLoadErrors, MergesMalformed) {
  json j = with_merges();
  j["model"].erase("merges");
  expect_error(error_of(j), {"model.merges: missing"});
  j = with_merges();
  j["model"]["merges"] = "a b";
  expect_error(error_of(j), {"model.merges", "a string"});
  j = with_merges();
  j["model"]["merges"] = json::array({"a b", "ab"});
  expect_error(error_of(j), {"model.merges[1]", "\"ab\""});
  j = with_merges();
  j["model"]["merges"] = json::array({"a b c"});
  expect_error(error_of(j), {"model.merges[0]", "\"a b c\""});
  j = with_merges();
  j["model"]["merges"] = json::array({json::array({"a"})});
  expect_error(error_of(j), {"model.merges[0]", "array of 1"});
  j["model"]["merges"] = json::array({"a b", json::array({"a", 7})});
  expect_error(error_of(j), {"model.merges[1]", "7"});
  j = with_merges();
  j["model"]["merges"] = json::array({42});
  expect_error(error_of(j), {"model.merges[0]", "42"});
}

TEST(TokenizerLoadErrors, MergeNamingAnUnknownToken) {
  json j = with_merges();
  j["model"]["merges"].push_back(json::array({"ab", "nosuch"}));
  expect_error(error_of(j), {"model.merges[1]", "\"nosuch\"", "not in model.vocab"});
  j = with_merges();
  j["model"]["merges"].push_back("b a");  // "ba" is no token
  expect_error(error_of(j), {"model.merges[1]", "merged token \"ba\"", "not in model.vocab"});
}

TEST(TokenizerLoadErrors, UnsupportedBpeOptions) {
  json j = with_merges();
  j["model"]["dropout"] = 0.1;
  expect_error(error_of(j), {"model.dropout"});
  j = with_merges();
  j["model"]["continuing_subword_prefix"] = "##";
  expect_error(error_of(j), {"model.continuing_subword_prefix", "\"##\""});
  j = with_merges();
  j["model"]["ignore_merges"] = "yes";
  expect_error(error_of(j), {"model.ignore_merges", "true or false"});
}

TEST(TokenizerLoadErrors, UnsupportedNormalizer) {
  json j = with_merges();
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error(error_of(j), {"normalizer.type", "\"Lowercase\""});
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFC"}}, {{"type", "Strip"}}})}};
  expect_error(error_of(j), {"normalizer.normalizers[1].type", "\"Strip\""});
  j["normalizer"] = {{"type", "Sequence"}};
  expect_error(error_of(j), {"normalizer.normalizers: missing"});
  j["normalizer"] = {{"kind", "NFC"}};
  expect_error(error_of(j), {"normalizer.type: missing"});
}

TEST(TokenizerLoadErrors, UnsupportedPreTokenizer) {
  json j = with_merges();
  j["pre_tokenizer"] = nullptr;
  expect_error(error_of(j), {"pre_tokenizer", "ByteLevel", "null"});
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error(error_of(j), {"pre_tokenizer.type", "\"Whitespace\""});
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}};
  expect_error(error_of(j), {"pre_tokenizer", "add_prefix_space"});
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  json split = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Removed"}, {"invert", false}};
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({split, byte_level})}};
  expect_error(error_of(j), {"pre_tokenizer.pretokenizers[0].behavior", "\"Removed\""});
  split["behavior"] = "Isolated";
  split["invert"] = true;
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({split, byte_level})}};
  expect_error(error_of(j), {"pre_tokenizer.pretokenizers[0]", "invert"});
  split["invert"] = false;
  split["pattern"] = {{"Regex", "(unclosed"}};
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({split, byte_level})}};
  expect_error(error_of(j), {"pre_tokenizer.pretokenizers[0].pattern.Regex", "offset"});
  split["pattern"] = {{"Regex", "a"}, {"String", "b"}};
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({split, byte_level})}};
  expect_error(error_of(j), {"pre_tokenizer.pretokenizers[0].pattern", "exactly one"});
  split["pattern"] = {{"Regex", "a"}};
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({byte_level, split})}};
  expect_error(error_of(j), {"pre_tokenizer.pretokenizers[1]", "\"Split\"", "after ByteLevel"});
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({split})}};
  expect_error(error_of(j), {"pre_tokenizer", "no ByteLevel"});
}

TEST(TokenizerLoadErrors, MalformedAddedTokens) {
  json j = with_merges();
  j["added_tokens"] = {{"id", 300}};
  expect_error(error_of(j), {"added_tokens", "expected an array"});
  j["added_tokens"] = json::array({"<x>"});
  expect_error(error_of(j), {"added_tokens[0]", "expected an object"});
  json t = added_token(300, "<x>", true);
  t.erase("id");
  j["added_tokens"] = json::array({added_token(299, "<w>", true), t});
  expect_error(error_of(j), {"added_tokens[1].id: missing"});
  j["added_tokens"] = json::array({added_token(-1, "<x>", true)});
  expect_error(error_of(j), {"added_tokens[0].id", "-1"});
  t = added_token(300, "<x>", true);
  t["content"] = 5;
  j["added_tokens"] = json::array({t});
  expect_error(error_of(j), {"added_tokens[0].content", "expected a string"});
  j["added_tokens"] = json::array({added_token(300, "", true)});
  expect_error(error_of(j), {"added_tokens[0].content", "empty"});
  t = added_token(300, "<x>", true);
  t["special"] = "yes";
  j["added_tokens"] = json::array({t});
  expect_error(error_of(j), {"added_tokens[0].special", "true or false"});
  t.erase("special");
  j["added_tokens"] = json::array({t});
  expect_error(error_of(j), {"added_tokens[0].special: missing"});
  j["added_tokens"] = json::array({added_token(300, "<x>", true), added_token(300, "<y>", true)});
  expect_error(error_of(j), {"added_tokens[1].id", "300", "\"<x>\""});
  j["added_tokens"] = json::array({added_token(300, "<x>", true), added_token(301, "<x>", true)});
  expect_error(error_of(j), {"added_tokens[1].content", "\"<x>\"", "300"});
}

TEST(TokenizerLoadErrors, AddedTokensThatContradictTheVocabulary) {
  json j = with_merges();
  j["added_tokens"] = json::array({added_token(97, "<x>", true)});  // 97 is "a"
  expect_error(error_of(j), {"added_tokens[0].id", "97", "\"<x>\"", "\"a\""});
  j["added_tokens"] = json::array({added_token(300, "ab", false)});  // "ab" is 256
  expect_error(error_of(j), {"added_tokens[0].id", "\"ab\"", "300", "256"});
}

TEST(TokenizerLoadErrors, UnsupportedPostProcessorOrDecoder) {
  json j = with_merges();
  j["post_processor"] = {{"type", "TemplateProcessing"}};
  expect_error(error_of(j), {"post_processor.type", "\"TemplateProcessing\""});
  j = with_merges();
  j.erase("decoder");
  expect_error(error_of(j), {"decoder", "ByteLevel"});
  j = with_merges();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error(error_of(j), {"decoder.type", "\"WordPiece\""});
}

TEST(TokenizerLoadErrors, TheTinyTokenizerItselfLoads) {
  // Guards the tests above: each failure comes from the one field changed.
  auto t = Tokenizer::from_json(with_merges().dump(), "bad.json");
  EXPECT_TRUE(t.ok()) << t.message();
}

TEST(TokenizerLoadErrors, FilesThatCannotBeRead) {
  const std::string missing = ::testing::TempDir() + "/pid" + std::to_string(::getpid()) + "_no_such_tokenizer.json";
  auto t = Tokenizer::load(missing);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.message().rfind(missing + ": ", 0), 0u) << t.message();
  const std::string folder = ::testing::TempDir() + "/pid" + std::to_string(::getpid()) + "_tokenizer_folder";
  std::filesystem::create_directories(folder);
  auto d = Tokenizer::load(folder);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.message().rfind(folder + ": ", 0), 0u) << d.message();
  const std::string garbage = ::testing::TempDir() + "/pid" + std::to_string(::getpid()) + "_garbage_tokenizer.json";
  std::ofstream(garbage) << "\x89PNG\r\n";
  auto g = Tokenizer::load(garbage);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.message().rfind(garbage + ": not valid JSON", 0), 0u) << g.message();
  EXPECT_EQ(g.message().find('\n'), std::string::npos) << g.message();
}

}  // namespace
