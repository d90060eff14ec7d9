#include "core/vision/preprocess.h"

#include <new>
#include <string>

#include "core/vision/normalize.h"
#include "core/vision/patchify.h"
#include "core/vision/resample.h"
#include "core/vision/smart_resize.h"

namespace ql::vision {
namespace {

std::string prefix(std::string_view label) {
  return label.empty() ? std::string() : fmt::format("{}: ", label);
}

Result<ImageSize> target_size(const ImageRGB8& image, const PreprocessConfig& cfg,
                              std::string_view label) {
  const ImageSize original{image.width, image.height};
  if (cfg.do_resize) return smart_resize(original, cfg, label);
  const int factor = cfg.resize_factor();
  if (image.width <= 0 || image.height <= 0 || image.width % factor != 0 ||
      image.height % factor != 0) {
    return err("{}image size {}x{} is not a multiple of {} (do_resize is off)", prefix(label),
               image.width, image.height, factor);
  }
  return original;
}

Result<PreprocessedImage> run_preprocess(const ImageRGB8& image, const PreprocessConfig& cfg,
                                         std::string_view label) {
  if (image.width > 0 && image.height > 0 &&
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return err("{}pixel buffer has {} bytes, expected {} for {}x{} RGB", prefix(label),
               image.pixels.size(), static_cast<size_t>(image.width) * image.height * 3,
               image.width, image.height);
  }
  auto target = target_size(image, cfg, label);
  if (!target) return target.error();
  auto resized = resize_bicubic_antialias(image, *target);
  if (!resized) return Error{prefix(label) + resized.message(), resized.error().kind};
  PreprocessedImage out = patchify(*resized, cfg, make_normalize_table(cfg));
  out.original = {image.width, image.height};
  return out;
}

}  // namespace

Result<PreprocessedImage> preprocess_image(const ImageRGB8& image, const PreprocessConfig& cfg,
                                           std::string_view label) {
  try {
    return run_preprocess(image, cfg, label);
  } catch (const std::bad_alloc&) {
    // A huge target size (large min_pixels/max_pixels) can exceed memory.
    return internal_err("{}out of memory while preprocessing the image", prefix(label));
  }
}

}  // namespace ql::vision
