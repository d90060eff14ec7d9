#pragma once
// Rotary tables (cos, sin), computed on the host from positions that are
// known before a forward and written to the backend as inputs.
#include <cstdint>
#include <span>
#include <vector>

#include "core/model/positions.h"

namespace ql::model {

struct RotaryTables {
  std::vector<float> cos, sin;  // [rows, head_dim] each
  int64_t rows = 0;
  int64_t head_dim = 0;
};

// Text M-RoPE, interleaved (docs/model.md §9.4): frequency slot j takes the height
// position when j % 3 == 1 and j < 3 * section[1], the width position when
// j % 3 == 2 and j < 3 * section[2], the temporal one otherwise; the
// head_dim/2 angles are repeated twice. `first`/`count` pick the rows.
RotaryTables text_rotary(const PositionIds& positions, int64_t first, int64_t count, int64_t head_dim,
                         double theta, const std::array<int64_t, 3>& mrope_section);

// The same for decode steps, whose three axes are equal.
RotaryTables text_rotary_1d(int64_t position, int64_t head_dim, double theta,
                            const std::array<int64_t, 3>& mrope_section);

// Vision 2-D RoPE (docs/model.md §6.3): per patch, head_dim/4 row angles then
// head_dim/4 column angles, the pair repeated twice; patches in the
// preprocessor's order (merge blocks), every frame of every image in turn.
RotaryTables vision_rotary(std::span<const ImageGrid> grids, int64_t merge_size, int64_t head_dim, double theta);

// (row, col) of patch q of a frame with grid width w (docs/model.md §6.2).
struct PatchRowCol {
  int64_t row, col;
};
PatchRowCol patch_row_col(int64_t q, int64_t grid_w, int64_t merge_size);

}  // namespace ql::model
