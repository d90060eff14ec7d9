#pragma once
// One entry of tokenizer.json "added_tokens", with Hugging Face's flags.
#include <cstdint>
#include <string>

namespace ql::text {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;      // skipped by decode(skip_special); kept as text by SpecialTokens::kAsText
  bool single_word = false;  // only matches when not touching a word character
  bool lstrip = false;       // swallows white space on its left
  bool rstrip = false;       // swallows white space on its right
  bool normalized = false;   // matched in the normalized text instead of the raw text
};

}  // namespace ql::text
