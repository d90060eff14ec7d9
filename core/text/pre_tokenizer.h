#pragma once
// The tokenizer.json "pre_tokenizer" of a byte-level BPE: zero or more Split
// steps (a regex or literal pattern, behaviour Isolated) followed by
// ByteLevel (add_prefix_space false; use_regex true adds the GPT-2 pattern as
// one more Split). A bare ByteLevel or a Sequence of these is accepted;
// other shapes are refused by name.
#include <string_view>
#include <vector>

#include "core/common/result.h"
#include "core/text/json_field.h"
#include "core/text/split_regex.h"

namespace ql::text {

class PreTokenizer {
 public:
  static Result<PreTokenizer> from_json(const JsonField& field);

  // Cuts normalized text (valid UTF-8) into pre-tokens, appending their byte
  // spans (relative to text) to out. Isolated behaviour: every match and
  // every gap between matches is its own pre-token.
  void split(std::string_view text, std::vector<Span>& out) const;

 private:
  Status add_step(const JsonField& field);
  Status add_split(const JsonField& field);
  void split_from(std::string_view text, size_t offset, size_t step, std::vector<Span>& out) const;

  std::vector<SplitRegex> splits_;
  bool has_byte_level_ = false;
};

// The pattern ByteLevel uses when use_regex is true (GPT-2's).
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace ql::text
