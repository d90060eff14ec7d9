#include "core/engine/logit_rows.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace ql::engine {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Result<int64_t> parse_row(std::string_view item) {
  std::string_view s = trim(item);
  int64_t value = 0;
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (s.empty() || ec != std::errc() || ptr != end) {
    return err("logits rows: '{}' is not an integer (expected 'all' or a comma list such as 0,5,-1)",
               std::string(item));
  }
  return value;
}

}  // namespace

Result<LogitRows> parse_logit_rows(std::string_view text) {
  LogitRows out;
  if (trim(text) == "all") {
    out.all = true;
    return out;
  }
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string_view item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    auto row = parse_row(item);
    if (!row) return row.error();
    out.rows.push_back(*row);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

Result<std::vector<int64_t>> resolve_logit_rows(const LogitRows& rows, int64_t prompt_tokens) {
  std::vector<int64_t> out;
  if (rows.all) {
    for (int64_t r = 0; r < prompt_tokens; ++r) out.push_back(r);
    return out;
  }
  for (int64_t r : rows.rows) {
    const int64_t absolute = r < 0 ? prompt_tokens + r : r;
    if (absolute < 0 || absolute >= prompt_tokens) {
      return err("logits row {} is outside the prompt of {} tokens (valid: {}..{})", r, prompt_tokens,
                 -prompt_tokens, prompt_tokens - 1);
    }
    out.push_back(absolute);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace ql::engine
