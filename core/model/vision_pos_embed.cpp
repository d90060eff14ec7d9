#include "core/model/vision_pos_embed.h"

#include <algorithm>
#include <cmath>

#include "core/model/rotary.h"

namespace ql::model {
namespace {

struct AxisTaps {
  int64_t a, b;
  float wa, wb;
};

// Sample coordinate in float32 as transformers 5.17 computes it:
// s = i * (N - 1) / max(n - 1, 1), taps floor(s) and floor(s) + 1 clamped.
AxisTaps axis_taps(int64_t i, int64_t n, int64_t side) {
  const float s = static_cast<float>(i) * static_cast<float>(side - 1) / static_cast<float>(std::max<int64_t>(n - 1, 1));
  const float f = std::floor(s);
  const int64_t fi = static_cast<int64_t>(f);
  AxisTaps t;
  t.a = std::clamp<int64_t>(fi, 0, side - 1);
  t.b = std::clamp<int64_t>(fi + 1, 0, side - 1);
  t.wa = std::max(0.0f, 1.0f - std::fabs(s - f));
  t.wb = std::max(0.0f, 1.0f - std::fabs(s - f - 1.0f));
  return t;
}

}  // namespace

PosEmbedTaps vision_pos_embed_taps(std::span<const ImageGrid> grids, int64_t merge_size, int64_t side) {
  PosEmbedTaps taps;
  for (const auto& g : grids) taps.rows += g.t * g.h * g.w;
  taps.indices.reserve(static_cast<size_t>(taps.rows * 4));
  taps.weights.reserve(static_cast<size_t>(taps.rows * 4));
  for (const auto& g : grids) {
    for (int64_t f = 0; f < g.t; ++f) {
      for (int64_t q = 0; q < g.h * g.w; ++q) {
        const auto rc = patch_row_col(q, g.w, merge_size);
        const AxisTaps r = axis_taps(rc.row, g.h, side);
        const AxisTaps c = axis_taps(rc.col, g.w, side);
        const int64_t idx[4] = {r.a * side + c.a, r.a * side + c.b, r.b * side + c.a, r.b * side + c.b};
        const float w[4] = {r.wa * c.wa, r.wa * c.wb, r.wb * c.wa, r.wb * c.wb};
        for (int k = 0; k < 4; ++k) {
          taps.indices.push_back(static_cast<int32_t>(idx[k]));
          taps.weights.push_back(w[k]);
        }
      }
    }
  }
  return taps;
}

}  // namespace ql::model
