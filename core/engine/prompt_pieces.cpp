#include "core/engine/prompt_pieces.h"

namespace ql::engine {

int64_t prompt_piece_end(std::span<const int32_t> ids, int64_t from, int64_t max_tokens, int32_t image_pad) {
  const int64_t n = static_cast<int64_t>(ids.size());
  if (max_tokens <= 0 || n - from <= max_tokens) return n;
  auto may_cut = [&](int64_t i) { return ids[i - 1] != image_pad && ids[i] != image_pad; };
  const int64_t limit = from + max_tokens;  // < n
  for (int64_t i = limit; i > from; --i)
    if (may_cut(i)) return i;
  for (int64_t i = limit + 1; i < n; ++i)
    if (may_cut(i)) return i;
  return n;
}

}  // namespace ql::engine
