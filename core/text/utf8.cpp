#include "core/text/utf8.h"

namespace ql::text {

namespace {

// Allowed range of the second byte for a lead byte (Unicode Table 3-7); the
// third and fourth bytes are always 80..BF.
struct LeadInfo {
  int length;  // 0: the byte cannot start a character
  unsigned char second_lo, second_hi;
};

LeadInfo lead_info(unsigned char b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b >= 0xE1 && b <= 0xEC) return {3, 0x80, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};  // excludes surrogates
  if (b >= 0xEE && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};  // nothing above U+10FFFF
  return {0, 0, 0};
}

}  // namespace

Utf8Step utf8_step(std::string_view s, size_t pos) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + pos;
  const size_t avail = s.size() - pos;
  const LeadInfo info = lead_info(p[0]);
  if (info.length == 1) return {Utf8Step::kValid, 1, p[0]};
  if (info.length == 0) return {Utf8Step::kInvalid, 1, 0};
  char32_t cp = p[0] & (0xFF >> (info.length + 1));
  for (int i = 1; i < info.length; ++i) {
    if (static_cast<size_t>(i) >= avail) return {Utf8Step::kTruncated, static_cast<size_t>(i), 0};
    const unsigned char lo = i == 1 ? info.second_lo : 0x80;
    const unsigned char hi = i == 1 ? info.second_hi : 0xBF;
    if (p[i] < lo || p[i] > hi) return {Utf8Step::kInvalid, static_cast<size_t>(i), 0};
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  return {Utf8Step::kValid, static_cast<size_t>(info.length), cp};
}

bool is_valid_utf8(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    // ASCII runs are the common case; skip them without the full decoder.
    if (static_cast<unsigned char>(s[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const Utf8Step step = utf8_step(s, pos);
    if (step.kind != Utf8Step::kValid) return false;
    pos += step.length;
  }
  return true;
}

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) {
    const Utf8Step step = utf8_step(s, pos);
    if (step.kind == Utf8Step::kValid) {
      out.append(s.substr(pos, step.length));
    } else {
      out.append(kReplacementChar);
    }
    pos += step.length;
  }
  return out;
}

size_t utf8_stable_prefix(std::string_view s) {
  // A trailing unfinished sequence starts at most 3 bytes before the end.
  const size_t from = s.size() > 3 ? s.size() - 3 : 0;
  for (size_t start = from; start < s.size(); ++start) {
    const auto b = static_cast<unsigned char>(s[start]);
    if (b < 0xC0) continue;  // not a lead byte
    if (utf8_step(s, start).kind == Utf8Step::kTruncated) return start;
  }
  return s.size();
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

bool is_unicode_white_space(char32_t c) {
  // PropList.txt White_Space (stable since Unicode 6.3).
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

}  // namespace ql::text
