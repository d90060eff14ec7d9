#pragma once
// Base64 (RFC 4648, standard alphabet, '=' padding) for the images a client
// sends as data URLs. Strict: any other character, or bad padding, is refused
// rather than guessed at.
#include <optional>
#include <string>
#include <string_view>

namespace ql::server {

// The decoded bytes, or nullopt with `why` set (the position of the fault).
std::optional<std::string> decode_base64(std::string_view text, std::string* why);

}  // namespace ql::server
