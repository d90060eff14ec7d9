#include "core/text/stream_detokenizer.h"

#include "core/text/utf8.h"

namespace ql::text {

std::string StreamDetokenizer::push(int32_t id) {
  if (!tokenizer_.is_valid_id(id)) return {};
  if (skip_special_ && tokenizer_.is_special(id)) return {};
  pending_.append(tokenizer_.token_bytes(id));
  // Bytes before a trailing unfinished character can no longer change:
  // emit them now (invalid ones as U+FFFD, exactly as decode would).
  const size_t stable = utf8_stable_prefix(pending_);
  std::string out = to_valid_utf8(std::string_view(pending_).substr(0, stable));
  pending_.erase(0, stable);
  return out;
}

std::string StreamDetokenizer::flush() {
  std::string out = to_valid_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace ql::text
