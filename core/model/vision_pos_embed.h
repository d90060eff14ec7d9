#pragma once
// The learned vision position table is a side x side grid; each patch takes a
// bilinear mix (align_corners = true) of its four nearest entries
// (docs/model.md §6.2). Indices and weights are host inputs to add_weighted_rows.
#include <cstdint>
#include <span>
#include <vector>

#include "core/model/positions.h"

namespace ql::model {

struct PosEmbedTaps {
  std::vector<int32_t> indices;  // [patches, 4] rows of the table
  std::vector<float> weights;    // [patches, 4]
  int64_t rows = 0;
};

PosEmbedTaps vision_pos_embed_taps(std::span<const ImageGrid> grids, int64_t merge_size, int64_t side);

}  // namespace ql::model
