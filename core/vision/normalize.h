#pragma once
// Rescale + normalise of uint8 pixels to the float32 values the vision tower
// sees. The result depends only on (channel, level), so it is a 3 x 256 table.
#include <array>

#include "core/vision/preprocess_config.h"

namespace ql::vision {

using NormalizeTable = std::array<std::array<float, 256>, 3>;

// Reproduces HF's torchvision backend in float32: with rescale and normalise
// both on they are fused, mean' = f32(mean) * f32(1/rescale) (likewise std),
// value = (f32(u8) - mean') / std'. With the published config that is
// (u8 - 127.5) / 127.5 (docs/model.md §4.1 step 4).
NormalizeTable make_normalize_table(const PreprocessConfig& cfg);

}  // namespace ql::vision
