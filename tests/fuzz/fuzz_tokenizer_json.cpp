// libFuzzer target: arbitrary bytes as tokenizer.json. Loading must never
// crash; a refusal is one line naming the file; an accepted tokenizer must
// encode and decode arbitrary text (the input itself included) without
// crashing, decode must give valid UTF-8, and with no added tokens to
// swallow or rewrite text, ASCII must round-trip exactly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/text/stream_detokenizer.h"
#include "core/text/tokenizer.h"
#include "core/text/utf8.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void exercise(const ql::text::Tokenizer& tok, std::string_view text) {
  const std::vector<int32_t> ids = tok.encode(text);
  for (int32_t id : ids) check(tok.is_valid_id(id));
  const std::string decoded = tok.decode(ids);
  check(ql::text::is_valid_utf8(decoded));
  ql::text::StreamDetokenizer stream(tok);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  check(streamed == decoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto tok = ql::text::Tokenizer::from_json(bytes, "fuzz/tokenizer.json");
  if (!tok.ok()) {
    const std::string& m = tok.message();
    check(!m.empty() && m.find('\n') == std::string::npos);
    check(m.rfind("fuzz/tokenizer.json: ", 0) == 0);
    return 0;
  }
  const std::string ascii = "Hello, world! It's 2024: x = [1, 2];\n\tdone  ";
  exercise(*tok, ascii);
  exercise(*tok, "caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80 \xFF\xC3");
  exercise(*tok, bytes.substr(0, 4096));
  if (tok->added_tokens().empty()) check(tok->decode(tok->encode(ascii)) == ascii);
  // Every id (and some that are not) decodes without trouble.
  const int32_t limit = static_cast<int32_t>(tok->vocab_size());
  for (int32_t id = -2; id < limit + 2 && id < 4096; ++id) {
    const int32_t one[] = {id};
    check(ql::text::is_valid_utf8(tok->decode(one)));
    check(tok->decode_checked(one).ok() == tok->is_valid_id(id));
  }
  return 0;
}
