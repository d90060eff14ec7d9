// Normalizers: the Unicode normal forms (utf8proc) and Sequence.
#include <gtest/gtest.h>

#include "core/text/normalizer.h"

namespace {

using ql::text::JsonField;
using ql::text::Normalizer;

Normalizer make(const nlohmann::json& j) {
  static const std::string label = "norm.json";
  auto n = Normalizer::from_json(JsonField(j, label, "normalizer"));
  EXPECT_TRUE(n.ok()) << n.message();
  return n.ok() ? std::move(n.value()) : Normalizer();
}

const std::string kDecomposed = "e\xCC\x81";  // e + U+0301
const std::string kComposed = "\xC3\xA9";     // é

TEST(TokenizerNormalizer, NullIsTheIdentity) {
  const Normalizer n = make(nullptr);
  EXPECT_TRUE(n.is_identity());
  EXPECT_EQ(n.apply(kDecomposed), kDecomposed);
}

TEST(TokenizerNormalizer, NormalForms) {
  EXPECT_EQ(make({{"type", "NFC"}}).apply("caf" + kDecomposed), "caf" + kComposed);
  EXPECT_EQ(make({{"type", "NFD"}}).apply(kComposed), kDecomposed);
  // U+FB01 (ﬁ) and U+2460 (①) have compatibility forms "fi" and "1".
  EXPECT_EQ(make({{"type", "NFKC"}}).apply("\xEF\xAC\x81 \xE2\x91\xA0 " + kDecomposed), "fi 1 " + kComposed);
  EXPECT_EQ(make({{"type", "NFKD"}}).apply("\xEF\xAC\x81" + kComposed), "fi" + kDecomposed);
  // NFC keeps compatibility characters.
  EXPECT_EQ(make({{"type", "NFC"}}).apply("\xEF\xAC\x81"), "\xEF\xAC\x81");
  // Hangul jamo compose into a syllable: U+1100 U+1161 -> U+AC00.
  EXPECT_EQ(make({{"type", "NFC"}}).apply("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");
}

TEST(TokenizerNormalizer, SequenceAppliesInOrder) {
  const nlohmann::json seq = {{"type", "Sequence"},
                              {"normalizers", nlohmann::json::array({{{"type", "NFKD"}}, {{"type", "NFC"}}})}};
  EXPECT_EQ(make(seq).apply("\xEF\xAC\x81" + kDecomposed), "fi" + kComposed);
  const nlohmann::json empty = {{"type", "Sequence"}, {"normalizers", nlohmann::json::array()}};
  EXPECT_TRUE(make(empty).is_identity());
}

TEST(TokenizerNormalizer, TextWithNulIsNormalizedWhole) {
  const std::string text = std::string("a\0", 2) + kDecomposed;
  EXPECT_EQ(make({{"type", "NFC"}}).apply(text), std::string("a\0", 2) + kComposed);
}

TEST(TokenizerNormalizer, UnsupportedTypeIsNamed) {
  const std::string label = "norm.json";
  const nlohmann::json j = {{"type", "Precompiled"}};
  auto n = Normalizer::from_json(JsonField(j, label, "normalizer"));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.message().rfind("norm.json: normalizer.type: ", 0), 0u) << n.message();
  EXPECT_NE(n.message().find("\"Precompiled\""), std::string::npos) << n.message();
}

}  // namespace
