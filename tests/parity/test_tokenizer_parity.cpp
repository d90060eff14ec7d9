// Tokenizer parity with Hugging Face `tokenizers`: tests/data/tokenizer/cases.json
// holds texts with the ids and decoded text that the reference produced
// (format: {"source": "...", "cases": [{"text": "...", "ids": [...],
// "decoded": "..."}]}; optional "decode_skip_special_tokens": bool, default
// false). Every case must match exactly: ids, decode of the reference ids,
// and decode of our ids. Each mismatch is reported with its text.
// QL_TOKENIZER_CASES=path overrides the file (to check another reference).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/text/tokenizer.h"

namespace {

using json = nlohmann::json;
using ql::text::Tokenizer;

std::string cases_path() {
  if (const char* override_path = std::getenv("QL_TOKENIZER_CASES")) return override_path;
  return std::string(QL_TEST_DATA) + "/tokenizer/cases.json";
}

// Shows a text or id list compactly and unambiguously (JSON, escapes visible).
std::string shown(const json& j) {
  std::string s = j.dump(-1, ' ', true, json::error_handler_t::replace);
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s;
}

std::string first_difference(const std::vector<int32_t>& want, const std::vector<int32_t>& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  return "first difference at index " + std::to_string(i);
}

// Checks run in SetUp(), not SetUpTestSuite(): a failure there fails every
// test, where a failure in SetUpTestSuite would only mark them skipped.
class TokenizerParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tok_) {
      auto loaded = Tokenizer::load(QL_DEFAULT_TOKENIZER);
      ASSERT_TRUE(loaded.ok()) << loaded.message();
      tok_ = std::move(*loaded);
    }
    std::ifstream in(cases_path());
    ASSERT_TRUE(in) << cases_path()
                    << ": missing (reference made by Hugging Face tokenizers; see the header comment)";
    std::stringstream ss;
    ss << in.rdbuf();
    cases_ = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(cases_.is_discarded()) << cases_path() << ": not valid JSON";
    ASSERT_TRUE(cases_.is_object() && cases_.contains("cases") && cases_["cases"].is_array())
        << cases_path() << ": expected {\"cases\": [...]}";
    ASSERT_FALSE(cases_["cases"].empty()) << cases_path() << ": no cases";
  }

  struct Case {
    size_t index;
    std::string text;
    std::vector<int32_t> ids;
    std::string decoded;
  };

  // The cases, each checked for shape (a malformed case is a failure).
  static std::vector<Case> read_cases() {
    std::vector<Case> out;
    const json& list = cases_["cases"];
    for (size_t i = 0; i < list.size(); ++i) {
      const json& c = list[i];
      const bool well_formed = c.is_object() && c.contains("text") && c["text"].is_string() &&
                               c.contains("ids") && c["ids"].is_array() && c.contains("decoded") &&
                               c["decoded"].is_string();
      if (!well_formed) {
        ADD_FAILURE() << "case " << i << " is malformed: " << shown(c);
        continue;
      }
      Case k{i, c["text"].get<std::string>(), {}, c["decoded"].get<std::string>()};
      for (const json& id : c["ids"]) {
        if (!id.is_number_integer()) {
          ADD_FAILURE() << "case " << i << ": id " << id.dump() << " is not an integer";
          continue;
        }
        k.ids.push_back(id.get<int32_t>());
      }
      out.push_back(std::move(k));
    }
    return out;
  }

  static bool skip_special() { return cases_.value("decode_skip_special_tokens", false); }

  static inline std::optional<Tokenizer> tok_;
  static inline json cases_;
};

TEST_F(TokenizerParity, IdsAreIdentical) {
  const auto cases = read_cases();
  size_t mismatches = 0;
  for (const Case& c : cases) {
    const std::vector<int32_t> got = tok_->encode(c.text);
    if (got != c.ids) {
      ++mismatches;
      ADD_FAILURE() << "case " << c.index << " text " << shown(c.text) << "\n  reference " << shown(c.ids)
                    << "\n  ours      " << shown(got) << "\n  " << first_difference(c.ids, got);
    }
  }
  std::printf("tokenizer parity (%s): %zu of %zu cases with identical ids\n",
              cases_.value("source", std::string("unknown source")).c_str(), cases.size() - mismatches,
              cases.size());
  EXPECT_EQ(mismatches, 0u);
  EXPECT_FALSE(cases.empty());
}

TEST_F(TokenizerParity, DecodeOfReferenceIdsIsIdentical) {
  const auto cases = read_cases();
  size_t mismatches = 0;
  for (const Case& c : cases) {
    const std::string got = tok_->decode(c.ids, skip_special());
    if (got != c.decoded) {
      ++mismatches;
      ADD_FAILURE() << "case " << c.index << " text " << shown(c.text) << "\n  reference decoded "
                    << shown(c.decoded) << "\n  ours              " << shown(got);
    }
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_FALSE(cases.empty());
}

TEST_F(TokenizerParity, RoundTripGivesTheReferenceText) {
  // decode(encode(text)) must equal what the reference's own round trip gave
  // (the text itself, up to NFC normalization and U+FFFD repair).
  const auto cases = read_cases();
  size_t mismatches = 0;
  for (const Case& c : cases) {
    const std::string got = tok_->decode(tok_->encode(c.text), skip_special());
    if (got != c.decoded) {
      ++mismatches;
      ADD_FAILURE() << "case " << c.index << " text " << shown(c.text) << "\n  round trip " << shown(got)
                    << "\n  reference  " << shown(c.decoded);
    }
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_FALSE(cases.empty());
}

}  // namespace
