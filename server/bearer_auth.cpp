#include "server/bearer_auth.h"

#include <algorithm>
#include <cctype>
#include <cstddef>

namespace ql::server {

bool bearer_matches(std::string_view header, std::string_view key) {
  if (key.empty()) return true;
  constexpr std::string_view kScheme = "Bearer ";
  // The scheme is not secret; the token is compared over the key's whole
  // length whatever the given token's length, and its length difference is
  // folded into the same accumulator.
  // The scheme's name is case-insensitive (RFC 9110, 11.1).
  const std::string_view scheme = header.substr(0, kScheme.size());
  const bool is_bearer = scheme.size() == kScheme.size() &&
                         std::equal(scheme.begin(), scheme.end(), kScheme.begin(), [](char a, char b) {
                           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                         });
  const std::string_view token = is_bearer ? header.substr(kScheme.size()) : "";
  unsigned diff = token.size() == key.size() ? 0u : 1u;
  for (size_t i = 0; i < key.size(); ++i) {
    const unsigned char given = i < token.size() ? static_cast<unsigned char>(token[i]) : 0u;
    diff |= given ^ static_cast<unsigned char>(key[i]);
  }
  return diff == 0 && !header.empty();
}

}  // namespace ql::server
