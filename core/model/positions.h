#pragma once
// Three-axis (t, h, w) position ids of Qwen3-VL's interleaved M-RoPE
// (docs/model.md §8): text tokens count up on all three axes; the pad tokens of an
// image take (cur + t, cur + row, cur + col) over its merged grid, and the
// text after it continues at cur + max(rows, cols).
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/common/result.h"

namespace ql::model {

// An image's patch grid (t, h, w) in patch units, as the preprocessor made it.
struct ImageGrid {
  int64_t t = 1, h = 0, w = 0;
};

struct PositionIds {
  std::array<std::vector<int64_t>, 3> axis;  // t, h, w; one entry per token
  int64_t size() const { return static_cast<int64_t>(axis[0].size()); }
};

struct PositionResult {
  PositionIds ids;
  int64_t rope_delta = 0;  // max position + 1 - sequence length
};

// Positions of a whole sequence. Each maximal run of `image_token_id` is one
// image, matched in order with `grids`; its length must be t*h*w/merge^2.
// Errors name the image (0-based) whose run does not match its grid, or too
// many / too few runs.
Result<PositionResult> compute_positions(std::span<const int32_t> ids, int32_t image_token_id,
                                         std::span<const ImageGrid> grids, int64_t merge_size);

}  // namespace ql::model
