#include "core/model/positions.h"

#include <algorithm>

namespace ql::model {

Result<PositionResult> compute_positions(std::span<const int32_t> ids, int32_t image_token_id,
                                         std::span<const ImageGrid> grids, int64_t merge_size) {
  PositionResult r;
  for (auto& a : r.ids.axis) a.reserve(ids.size());
  int64_t cur = 0;
  int64_t max_pos = -1;
  size_t image = 0;
  size_t i = 0;
  auto push = [&](int64_t t, int64_t h, int64_t w) {
    r.ids.axis[0].push_back(t);
    r.ids.axis[1].push_back(h);
    r.ids.axis[2].push_back(w);
    max_pos = std::max({max_pos, t, h, w});
  };
  while (i < ids.size()) {
    if (ids[i] != image_token_id) {
      push(cur, cur, cur);
      ++cur;
      ++i;
      continue;
    }
    size_t run = 0;
    while (i + run < ids.size() && ids[i + run] == image_token_id) ++run;
    if (image >= grids.size()) {
      return err("prompt has more image placeholder runs than images ({} given)", grids.size());
    }
    const ImageGrid& g = grids[image];
    const int64_t hm = g.h / merge_size, wm = g.w / merge_size;
    const int64_t expected = g.t * hm * wm;
    if (static_cast<int64_t>(run) != expected) {
      return err("image {}: the prompt has {} image tokens for it, its grid {}x{}x{} needs {}", image, run,
                 g.t, g.h, g.w, expected);
    }
    for (int64_t t = 0; t < g.t; ++t)
      for (int64_t h = 0; h < hm; ++h)
        for (int64_t w = 0; w < wm; ++w) push(cur + t, cur + h, cur + w);
    cur += std::max(hm, wm);
    ++image;
    i += run;
  }
  if (image != grids.size()) {
    return err("prompt has {} image placeholder runs but {} images were given", image, grids.size());
  }
  r.rope_delta = max_pos + 1 - static_cast<int64_t>(ids.size());
  return r;
}

}  // namespace ql::model
