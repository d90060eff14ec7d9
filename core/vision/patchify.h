#pragma once
// Cuts a resized image into flattened patches in Hugging Face's order,
// normalising each value on the way and repeating the frame
// temporal_patch_size times (an image is a one-frame video).
#include "core/vision/image.h"
#include "core/vision/normalize.h"
#include "core/vision/preprocess_config.h"
#include "core/vision/preprocessed_image.h"

namespace ql::vision {

// Precondition: both sides of `resized` are multiples of
// cfg.patch_size * cfg.merge_size (preprocess_image checks it).
// Sets pixel_values, the grid, patch_dim, merge_size and `resized`.
PreprocessedImage patchify(const ImageRGB8& resized, const PreprocessConfig& cfg,
                           const NormalizeTable& table);

}  // namespace ql::vision
