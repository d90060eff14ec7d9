#pragma once
// Turns generated ids into text as they arrive. A character whose UTF-8
// bytes are spread over several tokens (emoji, CJK, ZWJ sequences) is held
// back until its last byte arrives, so every chunk returned is valid UTF-8,
// and the chunks joined equal Tokenizer::decode of all the ids.
#include <cstdint>
#include <string>

#include "core/text/tokenizer.h"

namespace ql::text {

class StreamDetokenizer {
 public:
  explicit StreamDetokenizer(Tokenizer tokenizer, bool skip_special = false)
      : tokenizer_(std::move(tokenizer)), skip_special_(skip_special) {}

  // The text that became complete with this id (often empty). Ids without a
  // token are dropped, as decode() drops them.
  std::string push(int32_t id);
  // Everything still held back; an unfinished character becomes U+FFFD.
  // The detokenizer is then empty and can start a new text.
  std::string flush();

 private:
  Tokenizer tokenizer_;
  bool skip_special_;
  std::string pending_;  // bytes that may still be the start of a character
};

}  // namespace ql::text
