#pragma once
// Bicubic antialiased resize of an RGB8 image, bit-identical to torchvision's
// resize(uint8 tensor, BICUBIC, antialias=True) on CPU, which is what the HF
// Qwen2-VL image processor runs (docs/model.md §4.1 step 3).
#include "core/common/result.h"
#include "core/vision/image.h"
#include "core/vision/smart_resize.h"

namespace ql::vision {

// Separable: a horizontal pass to the new width first (uint8 intermediate),
// then a vertical pass; an axis whose size does not change gets no pass.
// Rows are split across threads for large images. Fails only on a malformed
// source (pixel buffer size) or a non-positive size.
Result<ImageRGB8> resize_bicubic_antialias(const ImageRGB8& src, ImageSize out);

}  // namespace ql::vision
