#include "ui/chat/image_attachment.h"

#include <QFileInfo>
#include <QImageReader>

#include "core/vision/smart_resize.h"

namespace ql::ui {
namespace {

std::string s(const QString& q) { return q.toStdString(); }

QSize thumbnail_size(QSize full) {
  if (full.width() <= kThumbnailSide && full.height() <= kThumbnailSide) return full;
  return full.scaled(kThumbnailSide, kThumbnailSide, Qt::KeepAspectRatio).expandedTo(QSize(1, 1));
}

QImage scaled_thumbnail(const QImage& image) {
  const QSize size = thumbnail_size(image.size());
  if (size == image.size()) return image;
  return image.scaled(size, Qt::KeepAspectRatio, Qt::SmoothTransformation);
}

// The model refuses images smart_resize refuses (a zero side, an aspect ratio
// over 200): say so now rather than at send time.
Status check_model_size(QSize size, const vision::PreprocessConfig& preprocess, const QString& name) {
  auto resized = vision::smart_resize({size.width(), size.height()}, preprocess, s(name));
  if (!resized) return resized.error();
  return {};
}

}  // namespace

Result<ChatImage> image_from_file(const QString& path, const vision::PreprocessConfig& preprocess) {
  const QFileInfo info(path);
  const QString name = info.fileName().isEmpty() ? path : info.fileName();
  if (!info.exists()) return err("{}: file not found ({})", s(name), s(path));
  if (info.isDir()) return err("{}: is a folder, not an image", s(name));
  if (!info.isReadable()) return err("{}: cannot be read (permission denied)", s(name));
  if (info.size() == 0) return err("{}: the file is empty", s(name));

  QImageReader reader(path);
  reader.setAutoTransform(true);  // EXIF orientation, as the engine's decoder applies it
  if (!reader.canRead()) {
    return err("{}: not an image Qt can read ({})", s(name), s(reader.errorString()));
  }
  const QSize size = reader.size();
  if (size.isValid() && !size.isEmpty()) {
    QL_TRY(check_model_size(size, preprocess, name));
    // Decoding at thumbnail size still reads all the data, so a damaged file
    // fails here, but a large photo costs less time and memory.
    reader.setScaledSize(thumbnail_size(size));
  }
  const QImage thumbnail = reader.read();
  if (thumbnail.isNull()) return err("{}: cannot be decoded ({})", s(name), s(reader.errorString()));
  if (!size.isValid() || size.isEmpty()) {
    // Formats that do not tell their size up front: it was decoded in full.
    QL_TRY(check_model_size(thumbnail.size(), preprocess, name));
  }

  ChatImage image;
  image.label = name;
  image.source_path = info.absoluteFilePath();
  image.thumbnail = scaled_thumbnail(thumbnail);
  return image;
}

Result<ChatImage> image_from_data(const QImage& data, const QString& label,
                                  const vision::PreprocessConfig& preprocess) {
  if (data.isNull() || data.width() <= 0 || data.height() <= 0) return err("{}: the image data is empty", s(label));
  QL_TRY(check_model_size(data.size(), preprocess, label));
  ChatImage image;
  image.label = label;
  image.pixels = data;
  image.thumbnail = scaled_thumbnail(data);
  return image;
}

QImage thumbnail_of_file(const QString& path) {
  QImageReader reader(path);
  reader.setAutoTransform(true);
  const QSize size = reader.size();
  if (size.isValid() && !size.isEmpty()) reader.setScaledSize(thumbnail_size(size));
  return scaled_thumbnail(reader.read());
}

}  // namespace ql::ui
