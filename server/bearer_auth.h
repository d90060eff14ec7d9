#pragma once
// The server's API key (--api-key): every request but /health carries
// "Authorization: Bearer KEY". The key is compared in time that does not
// depend on where the first difference is, so timing the refusals does not
// reveal it byte by byte.
#include <string_view>

namespace ql::server {

// True when `header` (the Authorization header's value) is "Bearer <key>".
// With an empty key everything passes (no key configured).
bool bearer_matches(std::string_view header, std::string_view key);

}  // namespace ql::server
