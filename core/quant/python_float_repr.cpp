#include "core/quant/python_float_repr.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace ql::quant {

std::string python_json_float(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";

  // std::to_chars without a precision gives the shortest digits that round-trip
  // (the nearest such string when several have the same length), the same
  // digits Python's repr picks; only the layout differs. "d.ddde+XX" form:
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const std::string_view text(buf, static_cast<size_t>(res.ptr - buf));
  const size_t e_pos = text.find('e');
  std::string_view mantissa = text.substr(0, e_pos);
  const int exponent = std::atoi(std::string(text.substr(e_pos + 1)).c_str());

  std::string out;
  if (!mantissa.empty() && mantissa[0] == '-') {
    out += '-';
    mantissa.remove_prefix(1);
  }
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  const int n = static_cast<int>(digits.size());
  // Python's decimal point position: value = 0.DIGITS * 10^point.
  const int point = exponent + 1;

  if (point > -4 && point <= 16) {  // repr's fixed notation
    if (point <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-point), '0');
      out += digits;
    } else if (point < n) {
      out += digits.substr(0, static_cast<size_t>(point));
      out += '.';
      out += digits.substr(static_cast<size_t>(point));
    } else {
      out += digits;
      out.append(static_cast<size_t>(point - n), '0');
      out += ".0";
    }
    return out;
  }
  // Exponent notation: "1e-05", "1.5e+16" (no ".0", at least two exponent digits).
  out += digits[0];
  if (n > 1) {
    out += '.';
    out += digits.substr(1);
  }
  const int shown = std::abs(exponent);
  out += exponent < 0 ? "e-" : "e+";
  if (shown < 10) out += '0';
  out += std::to_string(shown);
  return out;
}

}  // namespace ql::quant
