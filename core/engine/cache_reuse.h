#pragma once
// Multi-turn chat reuses the KV cache: the new prompt usually starts with
// everything already cached (earlier turns), so only the rest is prefilled.
#include <cstdint>
#include <span>

#include "core/engine/image_pads.h"

namespace ql::engine {

// How many leading tokens of `cached` the new `prompt` can keep: their longest
// common prefix, shortened so that
//   - an image is kept whole or not at all (the cut backs off to before its
//     vision_start; KvCache::truncate refuses a cut inside an image),
//   - an image whose pixels differ (its key) is not kept even when its pad ids
//     match (same size, other picture),
//   - at least the prompt's last token is left to run (its logits pick the
//     first new token).
// `cached_keys` / `prompt_keys` identify each image in order (image_fingerprint).
int64_t reusable_prefix(std::span<const int32_t> cached, std::span<const uint64_t> cached_keys,
                        std::span<const int32_t> prompt, std::span<const uint64_t> prompt_keys,
                        const ImageTokenIds& t);

}  // namespace ql::engine
