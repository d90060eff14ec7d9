#pragma once
// Where a long prompt may be split into pieces prefilled one after another
// (the batch runner interleaves them with decode steps): never inside an
// image's run of pad tokens, and not right before or after one, so each
// piece carries whole images with their vision_start and vision_end.
#include <cstdint>
#include <span>

namespace ql::engine {

// End (exclusive) of the piece of `ids` that starts at `from` with at most
// `max_tokens` tokens: the last allowed cut at or before from + max_tokens,
// else (an image longer than the limit starts the piece) the first after it;
// ids.size() when the rest fits or max_tokens <= 0 (no limit).
int64_t prompt_piece_end(std::span<const int32_t> ids, int64_t from, int64_t max_tokens, int32_t image_pad);

}  // namespace ql::engine
