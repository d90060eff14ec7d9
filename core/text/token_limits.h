#pragma once
#include <cstdint>

namespace ql::text {

// Token ids above this are refused at load: a real vocabulary is far smaller,
// and a bogus huge id would only make the id-indexed tables enormous.
inline constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;

}  // namespace ql::text
