#include "ui/imageio/image_decode.h"

#include <QFileInfo>
#include <QImage>
#include <QImageReader>
#include <QString>

#include <cstring>

namespace ql::imageio {

vision::ImageRGB8 to_rgb8(const QImage& image) {
  // Format_RGB888 drops alpha by taking the colour channels as stored, which
  // matches PIL's convert("RGB") for straight (non-premultiplied) alpha.
  QImage rgb = image.convertToFormat(QImage::Format_RGB888);
  vision::ImageRGB8 out;
  out.width = rgb.width();
  out.height = rgb.height();
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * 3);
  const size_t row_bytes = static_cast<size_t>(out.width) * 3;
  for (int y = 0; y < out.height; ++y) {
    std::memcpy(out.pixels.data() + y * row_bytes, rgb.constScanLine(y), row_bytes);
  }
  return out;
}

Result<vision::ImageRGB8> decode_image_file(const std::string& path) {
  const QString qpath = QString::fromStdString(path);
  QFileInfo info(qpath);
  if (!info.exists()) return err("{}: image file not found", path);
  if (!info.isFile()) return err("{}: not a file", path);
  if (!info.isReadable()) return err("{}: image file is not readable", path);
  QImageReader reader(qpath);
  reader.setAutoTransform(true);  // EXIF orientation, like the app would show it
  QImage image = reader.read();
  if (image.isNull()) {
    return err("{}: cannot decode image: {}", path, reader.errorString().toStdString());
  }
  if (image.width() <= 0 || image.height() <= 0) {
    return err("{}: image has no pixels", path);
  }
  // Keep straight alpha: convert premultiplied formats so colours are not darkened.
  if (image.format() == QImage::Format_ARGB32_Premultiplied ||
      image.format() == QImage::Format_RGBA8888_Premultiplied) {
    image = image.convertToFormat(QImage::Format_RGBA8888);
  }
  return to_rgb8(image);
}

}  // namespace ql::imageio
