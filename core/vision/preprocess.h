#pragma once
// One image -> the vision tower's input: smart_resize, bicubic resample,
// rescale + normalise, patchify (docs/model.md §4). Matches transformers 5.17's
// Qwen2VLImageProcessor (torchvision backend) for Qwen3-VL.
#include <string_view>

#include "core/common/result.h"
#include "core/vision/image.h"
#include "core/vision/preprocess_config.h"
#include "core/vision/preprocessed_image.h"

namespace ql::vision {

// `label` (e.g. the file path) starts every error message: a malformed pixel
// buffer, a zero dimension, an aspect ratio above the limit, or (with
// do_resize off) sides that are not multiples of patch_size * merge_size.
Result<PreprocessedImage> preprocess_image(const ImageRGB8& image, const PreprocessConfig& cfg,
                                           std::string_view label);

}  // namespace ql::vision
