#pragma once
// The tokenizer.json "added_tokens": tokens matched literally in the text
// before anything else (chat markers such as <|im_start|>, <think>, ...).
// Matching follows Hugging Face tokenizers: leftmost-longest over the whole
// set; single_word discards a match touching a word character; lstrip and
// rstrip swallow neighbouring white space; tokens with normalized=false are
// found in the raw text, those with normalized=true in the normalized text.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/result.h"
#include "core/text/added_token.h"
#include "core/text/json_field.h"
#include "core/text/normalizer.h"
#include "core/text/token_limits.h"

namespace ql::text {

// A piece of text: either an added token (id >= 0) or plain text (id == -1).
struct TextPiece {
  size_t begin;
  size_t end;
  int32_t id;
};

class AddedVocabulary {
 public:
  // `field` is the "added_tokens" member (absent counts as empty). The
  // normalizer gives the form that normalized=true tokens are matched in.
  static Result<AddedVocabulary> from_json(const std::optional<JsonField>& field,
                                           const Normalizer& normalizer);

  const std::vector<AddedToken>& tokens() const { return tokens_; }

  // Cuts text into pieces covering it completely. `normalized_set` picks the
  // tokens matched (normalized=true ones, or the others). With skip_special,
  // special tokens are not matched (they stay plain text).
  void split(std::string_view text, bool normalized_set, bool skip_special,
             std::vector<TextPiece>& out) const;

  bool has_normalized_tokens() const { return has_normalized_; }

 private:
  // Match patterns grouped by first byte, longest first within a group.
  struct Matcher {
    struct Pattern {
      std::string text;
      size_t token;  // index into tokens_
    };
    std::vector<Pattern> by_first_byte[256];
    void add(std::string text, size_t token);
    void sort();
  };
  void split_with(const Matcher& matcher, std::string_view text, bool skip_special,
                  std::vector<TextPiece>& out) const;

  std::vector<AddedToken> tokens_;
  Matcher raw_;
  Matcher normalized_;
  bool has_normalized_ = false;
};

}  // namespace ql::text
