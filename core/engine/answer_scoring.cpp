#include "core/engine/answer_scoring.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>
#include <vector>

namespace ql::engine {
namespace {

constexpr std::array<std::string_view, 21> kNumberWords = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string normalize_answer(std::string_view text) {
  std::string spaced;
  spaced.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool in_number = (c == '.' || c == ',') && i > 0 && i + 1 < text.size() && is_digit(text[i - 1]) &&
                           is_digit(text[i + 1]);
    if (std::isalnum(c) || c >= 0x80 || in_number) spaced += static_cast<char>(std::tolower(c));
    else spaced += ' ';
  }
  std::istringstream words(spaced);
  std::string word, out;
  while (words >> word) {
    if (word == "a" || word == "an" || word == "the") continue;
    const auto number = std::find(kNumberWords.begin(), kNumberWords.end(), word);
    if (number != kNumberWords.end()) word = std::to_string(number - kNumberWords.begin());
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

bool answers_match(std::string_view answer, std::string_view expected) {
  return normalize_answer(answer) == normalize_answer(expected);
}

double box_iou(const std::array<double, 4>& a, const std::array<double, 4>& b) {
  const double ix = std::max(0.0, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const double iy = std::max(0.0, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const double inter = ix * iy;
  const double area_a = std::max(0.0, a[2] - a[0]) * std::max(0.0, a[3] - a[1]);
  const double area_b = std::max(0.0, b[2] - b[0]) * std::max(0.0, b[3] - b[1]);
  const double uni = area_a + area_b - inter;
  if (uni <= 0) return a == b ? 1.0 : 0.0;
  return inter / uni;
}

}  // namespace ql::engine
