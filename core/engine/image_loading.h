#pragma once
// Request images -> the vision tower's input: files are decoded by the
// injected ImageDecoder, then preprocessed with the model folder's
// preprocessor_config.json.
#include "core/common/result.h"
#include "core/engine/request.h"
#include "core/vision/preprocess_config.h"
#include "core/vision/preprocessed_image.h"

namespace ql::engine {

// Errors start with the image's path (or label).
Result<vision::PreprocessedImage> load_image(const ImageInput& image, const ImageDecoder& decoder,
                                             const vision::PreprocessConfig& config);

}  // namespace ql::engine
