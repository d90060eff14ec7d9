#pragma once
// The Qwen tokenizer: a byte-level BPE loaded from a Hugging Face
// tokenizer.json, producing the same ids as Hugging Face `tokenizers`.
//
// encode: added tokens (<|im_start|>, ...) are found in the raw text first;
// the text between them is normalized (NFC), cut into pre-tokens by the
// file's regex, and each pre-token is BPE-merged over its bytes. No BOS/EOS
// is added. Input that is not valid UTF-8 is first repaired: every invalid
// sequence becomes U+FFFD (as Python's decode(errors="replace") would do
// before Hugging Face ever saw the text), so encode never fails.
//
// decode: token bytes are concatenated and turned into text; byte sequences
// that are not valid UTF-8 become U+FFFD. decode() drops ids that have no
// token, like Hugging Face does; decode_checked() reports them instead.
//
// A Tokenizer is immutable after loading, cheap to copy (shared state), and
// safe to use from several threads at once.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/result.h"
#include "core/text/added_token.h"

namespace ql::text {

// Whether special tokens written in the text become their ids (the chat
// template's markers) or are encoded as ordinary text (untrusted input).
enum class SpecialTokens { kRecognise, kAsText };

class Tokenizer {
 public:
  static Result<Tokenizer> load(const std::string& path);
  // label names the source in error messages (e.g. a path).
  static Result<Tokenizer> from_json(std::string_view json, std::string label);

  std::vector<int32_t> encode(std::string_view text,
                              SpecialTokens special = SpecialTokens::kRecognise) const;

  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
  // As decode, but an id without a token is an error naming the id and its position.
  Result<std::string> decode_checked(std::span<const int32_t> ids, bool skip_special = false) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token's string as the vocabulary writes it ("Ġhello", "<|im_end|>");
  // empty for an id without a token.
  std::string_view id_to_token(int32_t id) const;
  // The raw bytes a token stands for when decoding (not always valid UTF-8
  // on its own); empty for an id without a token.
  std::string_view token_bytes(int32_t id) const;
  bool is_valid_id(int32_t id) const;
  bool is_special(int32_t id) const;

  // One past the largest token id (151669 for Qwen3). Note the model's
  // embedding may have more rows (151936); those ids have no token.
  size_t vocab_size() const;
  const std::vector<AddedToken>& added_tokens() const;
  size_t merge_count() const;
  // The two token strings of the merge of rank r, as tokenizer.json lists
  // them (empty strings when r >= merge_count()).
  std::pair<std::string_view, std::string_view> merge(size_t rank) const;
  // Where this tokenizer was loaded from (the label given to from_json).
  const std::string& source() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace ql::text
