#include "core/engine/image_loading.h"

#include <exception>

#include "core/vision/preprocess.h"

namespace ql::engine {

Result<vision::PreprocessedImage> load_image(const ImageInput& image, const ImageDecoder& decoder,
                                             const vision::PreprocessConfig& config) {
  if (image.pixels) return vision::preprocess_image(*image.pixels, config, image.path);
  if (!decoder) return internal_err("{}: the engine has no image decoder to read image files", image.path);
  // The decoder is the app's code: keep its exceptions from crossing core's API.
  try {
    auto pixels = decoder(image.path);
    if (!pixels) return pixels.error();
    return vision::preprocess_image(*pixels, config, image.path);
  } catch (const std::exception& e) {
    return internal_err("{}: the image decoder failed: {}", image.path, e.what());
  }
}

}  // namespace ql::engine
