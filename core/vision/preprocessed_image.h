#pragma once
// The vision tower's input for one image: patches in Hugging Face's order plus
// the patch grid, and the sizes that produced them.
#include <cstdint>
#include <vector>

#include "core/vision/smart_resize.h"

namespace ql::vision {

struct PreprocessedImage {
  // [num_patches, patch_dim] row-major. Row order: merge block row, merge
  // block column, then the merge_size x merge_size cells; column order:
  // (channel, frame, y, x) (docs/model.md §4.1 step 5).
  std::vector<float> pixel_values;
  int grid_t = 0;
  int grid_h = 0;  // patches per column = resized.height / patch_size
  int grid_w = 0;  // patches per row = resized.width / patch_size
  int patch_dim = 0;  // 3 * temporal_patch_size * patch_size^2 (1536 published)
  int merge_size = 0;
  ImageSize original;
  ImageSize resized;

  int64_t num_patches() const { return int64_t{grid_t} * grid_h * grid_w; }
  // <|image_pad|> tokens in the prompt: one per merge_size^2 patches.
  int64_t num_image_tokens() const { return num_patches() / (int64_t{merge_size} * merge_size); }
};

}  // namespace ql::vision
