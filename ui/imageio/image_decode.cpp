#include "ui/imageio/image_decode.h"

#include <QBuffer>
#include <QByteArray>
#include <QFileInfo>
#include <QImage>
#include <QImageReader>
#include <QString>

#include <cstring>

#include <fmt/format.h>

namespace ql::imageio {
namespace {

// 32-bit pixels: 1 GiB is a 16384 x 16384 image.
constexpr int kDecodeLimitMiB = 1024;

}  // namespace

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

namespace {

// One decoder for files and bytes; `path` names the image in messages.
Result<vision::ImageRGB8> decode_from(QImageReader& reader, const std::string& path) {
  reader.setAutoTransform(true);  // EXIF orientation, like the app would show it
  // The model sees at most a few megapixels (the preprocessor resizes), but a
  // photo of 100+ megapixels is a real input; a decompression bomb is not.
  // Qt refuses images whose decoded size passes this limit, with only
  // "Unable to read image data": the header's size is checked here first so
  // that the message says what and why.
  reader.setAllocationLimit(kDecodeLimitMiB);
  const QSize header_size = reader.size();  // from the header, nothing decoded yet
  if (header_size.isValid()) {
    const double mib = static_cast<double>(header_size.width()) * header_size.height() * 4 / (1024.0 * 1024.0);
    if (mib > kDecodeLimitMiB)
      return err("{}: the image is {} x {} pixels; decoding it needs about {:.0f} MiB, more than the {} MiB an image "
                 "may take (scale it down first)",
                 path, header_size.width(), header_size.height(), mib, kDecodeLimitMiB);
  }
  QImage image = reader.read();
  if (image.isNull()) {
    return err("{}: cannot decode image{}: {}", path,
               header_size.isValid() ? fmt::format(" ({} x {} pixels)", header_size.width(), header_size.height())
                                     : std::string(),
               reader.errorString().toStdString());
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

}  // namespace

Result<vision::ImageRGB8> decode_image_file(const std::string& path) {
  const QString qpath = QString::fromStdString(path);
  QFileInfo info(qpath);
  if (!info.exists()) return err("{}: image file not found", path);
  if (!info.isFile()) return err("{}: not a file", path);
  if (!info.isReadable()) return err("{}: image file is not readable", path);
  QImageReader reader(qpath);
  return decode_from(reader, path);
}

Result<vision::ImageRGB8> decode_image_bytes(const std::string& bytes, const std::string& label) {
  QByteArray data = QByteArray::fromRawData(bytes.data(), static_cast<qsizetype>(bytes.size()));
  QBuffer buffer(&data);
  buffer.open(QIODevice::ReadOnly);
  QImageReader reader(&buffer);
  return decode_from(reader, label);
}

}  // namespace ql::imageio
