#include "core/text/split_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace ql::text {

namespace {

constexpr size_t kJitStackStart = 32 * 1024;
constexpr size_t kJitStackMax = 8 * 1024 * 1024;

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof(buffer)) < 0) return fmt::format("PCRE2 error {}", code);
  return std::string(reinterpret_cast<const char*>(buffer));
}

}  // namespace

struct SplitRegex::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() { pcre2_code_free(code); }
};

std::string rewrite_oniguruma_spaces(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  bool quoted = false;  // inside \Q...\E nothing is an escape
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c != '\\' || i + 1 == pattern.size()) {
      out.push_back(c);
      continue;
    }
    const char next = pattern[i + 1];
    if (quoted) {
      if (next == 'E') quoted = false;
      out.push_back(c);
      out.push_back(next);
    } else if (next == 's') {
      out += "\\p{White_Space}";
    } else if (next == 'S') {
      out += "\\P{White_Space}";
    } else {
      if (next == 'Q') quoted = true;
      out.push_back(c);
      out.push_back(next);
    }
    ++i;
  }
  return out;
}

Result<SplitRegex> SplitRegex::compile(std::string_view pattern, bool literal, const std::string& where) {
  const std::string source = literal ? std::string(pattern) : rewrite_oniguruma_spaces(pattern);
  uint32_t options = PCRE2_UTF | PCRE2_UCP;
  if (literal) options = PCRE2_UTF | PCRE2_LITERAL;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options,
                                   &error_code, &error_offset, nullptr);
  if (!code) {
    return err("{}: {} at offset {}", where, pcre2_message(error_code), error_offset);
  }
  auto compiled = std::make_shared<Compiled>();
  compiled->code = code;
  // Without JIT the interpreter still gives the same matches, only slower.
  compiled->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  SplitRegex regex;
  regex.compiled_ = std::move(compiled);
  return regex;
}

bool SplitRegex::find_all(std::string_view text, std::vector<Span>& out) const {
  pcre2_code* code = compiled_->code;
  pcre2_match_data* match = pcre2_match_data_create_from_pattern(code, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = nullptr;
  if (!match || !context) {
    pcre2_match_data_free(match);
    pcre2_match_context_free(context);
    return false;
  }
  if (compiled_->jit) {
    // A long run of spaces can need more than the default 32 KiB JIT stack.
    stack = pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr);
    if (stack) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  bool ok = true;
  size_t start = 0;
  while (start < text.size()) {
    // The text was validated once by the caller: skip PCRE2's own UTF check.
    const int rc = pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, match, context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      ok = false;
      break;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end > begin) {
      out.emplace_back(begin, end);
      start = end;
    } else {
      // An empty match: step over one character and search again.
      start = begin + 1;
      while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
    }
  }
  if (stack) pcre2_jit_stack_free(stack);
  pcre2_match_context_free(context);
  pcre2_match_data_free(match);
  return ok;
}

}  // namespace ql::text
