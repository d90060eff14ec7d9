#include "core/vision/patchify.h"

#include <algorithm>

#include "core/vision/parallel_rows.h"

namespace ql::vision {

PreprocessedImage patchify(const ImageRGB8& resized, const PreprocessConfig& cfg,
                           const NormalizeTable& table) {
  const int p = cfg.patch_size;
  const int m = cfg.merge_size;
  const int frames = cfg.temporal_patch_size;
  PreprocessedImage out;
  out.grid_t = 1;  // one frame, padded to one temporal patch by repetition
  out.grid_h = resized.height / p;
  out.grid_w = resized.width / p;
  out.patch_dim = 3 * frames * p * p;
  out.merge_size = m;
  out.resized = {resized.width, resized.height};
  out.pixel_values.resize(static_cast<size_t>(out.num_patches()) * out.patch_dim);

  const int blocks_h = out.grid_h / m;
  const int blocks_w = out.grid_w / m;
  const size_t plane = static_cast<size_t>(p) * p;  // one (channel, frame) block of a row
  // One band = one row of merge blocks; bands write disjoint rows of pixel_values.
  parallel_rows(blocks_h, static_cast<size_t>(blocks_w) * m * m * out.patch_dim,
                [&](int br0, int br1) {
    for (int br = br0; br < br1; ++br) {
      for (int bc = 0; bc < blocks_w; ++bc) {
        for (int ir = 0; ir < m; ++ir) {
          for (int ic = 0; ic < m; ++ic) {
            const size_t row = (static_cast<size_t>(br) * blocks_w + bc) * m * m + ir * m + ic;
            float* dst = out.pixel_values.data() + row * out.patch_dim;
            const int y0 = (br * m + ir) * p;
            const int x0 = (bc * m + ic) * p;
            for (int c = 0; c < 3; ++c) {
              float* frame0 = dst + static_cast<size_t>(c) * frames * plane;
              for (int y = 0; y < p; ++y) {
                for (int x = 0; x < p; ++x) {
                  frame0[y * p + x] = table[c][resized.at(y0 + y, x0 + x, c)];
                }
              }
              for (int t = 1; t < frames; ++t) {
                std::copy(frame0, frame0 + plane, frame0 + t * plane);
              }
            }
          }
        }
      }
    }
  });
  return out;
}

}  // namespace ql::vision
