#include "core/engine/cache_reuse.h"

#include <algorithm>

namespace ql::engine {

int64_t reusable_prefix(std::span<const int32_t> cached, std::span<const uint64_t> cached_keys,
                        std::span<const int32_t> prompt, std::span<const uint64_t> prompt_keys,
                        const ImageTokenIds& t) {
  const size_t limit = std::min(cached.size(), prompt.size());
  int64_t keep = static_cast<int64_t>(std::mismatch(cached.begin(), cached.begin() + limit, prompt.begin()).first -
                                      cached.begin());
  keep = std::min<int64_t>(keep, static_cast<int64_t>(prompt.size()) - 1);
  if (keep <= 0) return 0;
  // Both sides count: equal tokens before `keep` mean an image starting there
  // starts in both, but it may end within the prefix in one and not the other.
  const auto prompt_spans = find_image_spans(prompt, t);
  const auto cached_spans = find_image_spans(cached, t);
  for (size_t k = 0; k < prompt_spans.size() || k < cached_spans.size(); ++k) {
    const ImageSpan& s = k < prompt_spans.size() ? prompt_spans[k] : cached_spans[k];
    // The image's first token is its vision_start (or its first pad if the
    // ids are malformed; then nothing before it is cut either).
    const std::span<const int32_t> ids = k < prompt_spans.size() ? prompt : cached;
    const int64_t image_start =
        s.pads_begin > 0 && ids[s.pads_begin - 1] == t.vision_start ? s.pads_begin - 1 : s.pads_begin;
    if (image_start >= keep) break;
    const bool whole = k < prompt_spans.size() && k < cached_spans.size() && prompt_spans[k].pads_end <= keep &&
                       cached_spans[k].pads_end <= keep;
    const bool same_pixels = k < cached_keys.size() && k < prompt_keys.size() && cached_keys[k] == prompt_keys[k];
    if (!whole || !same_pixels) return image_start;
  }
  return keep;
}

}  // namespace ql::engine
