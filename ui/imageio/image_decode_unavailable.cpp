// Built instead of image_decode.cpp when Qt is not available (QL_QT=OFF, e.g.
// on the GPU machine): every command but image decoding works, and asking for
// an image says why it cannot be read.
#include "ui/imageio/image_decode.h"

namespace ql::imageio {

Result<vision::ImageRGB8> decode_image_file(const std::string& path) {
  return err("{}: this quantlens-cli was built without Qt (QL_QT=OFF), so it cannot decode image files",
             path);
}

Result<vision::ImageRGB8> decode_image_bytes(const std::string&, const std::string& label) {
  return err("{}: this quantlens-cli was built without Qt (QL_QT=OFF), so it cannot decode images", label);
}

}  // namespace ql::imageio
