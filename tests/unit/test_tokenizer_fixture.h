#pragma once
// Test helpers for the tokenizer suites: a tiny byte-level BPE tokenizer.json
// built in memory (so every expected id can be worked out by hand), and the
// path of the real Qwen tokenizer.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/text/tokenizer.h"

namespace ql::text::testing {

inline std::string real_tokenizer_path() { return QL_DEFAULT_TOKENIZER; }

// The real tokenizer, loaded once per test program. Tests call it from
// SetUp() with ASSERT, so a load failure fails each test (a failure in
// SetUpTestSuite would only mark them skipped).
inline const Result<Tokenizer>& real_tokenizer() {
  static const Result<Tokenizer> loaded = Tokenizer::load(real_tokenizer_path());
  return loaded;
}

// The printable stand-in for a byte in byte-level vocabularies (GPT-2's
// table, written out here independently of core/text/byte_level.cpp):
// printable Latin-1 bytes stand for themselves, the other 68 bytes take
// U+0100, U+0101, ... in byte order.
inline std::string byte_symbol(unsigned char b) {
  auto itself = [](int c) { return (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE; };
  char32_t cp = b;
  if (!itself(b)) {
    cp = 0x100;
    for (int c = 0; c < b; ++c) cp += itself(c) ? 0 : 1;
  }
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// A tiny tokenizer: byte b has id b (0..255); each merge (left, right) adds
// the token left+right with the next id (256, 257, ...) unless it exists.
// Pre-tokenizer: ByteLevel with the GPT-2 split; decoder ByteLevel.
inline nlohmann::json tiny_tokenizer(const std::vector<std::pair<std::string, std::string>>& merges = {}) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_symbol(static_cast<unsigned char>(b))] = b;
  nlohmann::json merge_list = nlohmann::json::array();
  int next = 256;
  for (const auto& [left, right] : merges) {
    if (!vocab.contains(left + right)) vocab[left + right] = next++;
    merge_list.push_back(nlohmann::json::array({left, right}));
  }
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", nlohmann::json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"decoder",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merge_list}}},
  };
}

inline nlohmann::json added_token(int id, const std::string& content, bool special, bool lstrip = false,
                                  bool rstrip = false, bool single_word = false, bool normalized = false) {
  return {{"id", id},           {"content", content}, {"single_word", single_word}, {"lstrip", lstrip},
          {"rstrip", rstrip}, {"normalized", normalized}, {"special", special}};
}

}  // namespace ql::text::testing
