#pragma once
// A 64-bit key of a preprocessed image, to tell whether an image in the KV
// cache is the one a new prompt shows (equal pad ids only mean equal sizes).
#include <cstdint>

#include "core/vision/preprocessed_image.h"

namespace ql::engine {

uint64_t image_fingerprint(const vision::PreprocessedImage& image);

}  // namespace ql::engine
