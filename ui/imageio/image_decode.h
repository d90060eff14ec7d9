#pragma once
// Decodes an image file (PNG, JPEG, WebP, BMP, GIF's first frame) into RGB8,
// applying the EXIF orientation, with Qt's QImageReader. Alpha is dropped
// without compositing, as PIL's convert("RGB") does for the reference.
#include <string>

#include "core/common/result.h"
#include "core/vision/image.h"

class QImage;

namespace ql::imageio {

Result<vision::ImageRGB8> decode_image_file(const std::string& path);
// The same for an encoded image in memory (a data URL's bytes); `label`
// names it in messages. The same size limit applies.
Result<vision::ImageRGB8> decode_image_bytes(const std::string& bytes, const std::string& label);

// Converts an already decoded QImage (e.g. pasted from the clipboard).
vision::ImageRGB8 to_rgb8(const QImage& image);

}  // namespace ql::imageio
