#pragma once
// A compiled pre-tokenizer pattern (PCRE2, UTF + UCP, JIT). Hugging Face
// tokenizers runs these patterns with Oniguruma; the one place where the two
// engines disagree for tokenizer patterns is \s (PCRE2 also counts U+180E as
// space), so \s and \S are rewritten to Unicode White_Space before compiling.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/common/result.h"

namespace ql::text {

// A byte range [begin, end) in the searched text.
using Span = std::pair<size_t, size_t>;

class SplitRegex {
 public:
  // literal: the pattern is plain text to find (a Split "String" pattern).
  // Errors are reported as "<where>: <PCRE2 message> at offset N".
  static Result<SplitRegex> compile(std::string_view pattern, bool literal, const std::string& where);

  // Appends the spans of all non-overlapping, non-empty matches in `text`
  // (valid UTF-8), left to right. Returns false if PCRE2 gave up (a resource
  // limit); the spans found up to that point are kept.
  bool find_all(std::string_view text, std::vector<Span>& out) const;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
};

// \s -> \p{White_Space}, \S -> \P{White_Space}; everything else unchanged.
std::string rewrite_oniguruma_spaces(std::string_view pattern);

}  // namespace ql::text
