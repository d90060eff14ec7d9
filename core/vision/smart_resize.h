#pragma once
// The target size of an image for the vision tower: both sides a multiple of
// patch_size * merge_size, the area inside [min_pixels, max_pixels], the
// aspect ratio kept as well as possible (HF smart_resize, docs/model.md §4.1 step 2).
#include <string_view>

#include "core/common/result.h"
#include "core/vision/preprocess_config.h"

namespace ql::vision {

struct ImageSize {
  int width = 0;
  int height = 0;
  friend bool operator==(const ImageSize&, const ImageSize&) = default;
};

// Errors start with `label` (e.g. the image's path) and say why: a zero
// dimension ("too small") or an aspect ratio above cfg.max_aspect_ratio
// ("too elongated"). Arithmetic in float64 with Python's rounding rules, so
// the result equals transformers' for every input.
Result<ImageSize> smart_resize(ImageSize original, const PreprocessConfig& cfg,
                               std::string_view label);

}  // namespace ql::vision
