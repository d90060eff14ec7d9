#include "ui/main/drop_payload.h"

#include <QFileInfo>
#include <QImageReader>
#include <QMimeData>
#include <QUrl>

namespace ql::ui {

DropPayload read_drop(const QMimeData* mime) {
  DropPayload p;
  if (!mime) return p;
  const QList<QByteArray> formats = QImageReader::supportedImageFormats();
  for (const QUrl& url : mime->urls()) {
    if (!url.isLocalFile()) continue;
    const QFileInfo info(url.toLocalFile());
    if (info.isDir()) {
      if (p.folder.isEmpty()) p.folder = info.absoluteFilePath();
    } else if (info.isFile() && formats.contains(info.suffix().toLower().toUtf8())) {
      p.image_files << info.absoluteFilePath();
    }
  }
  if (p.image_files.isEmpty() && mime->hasImage()) p.image = qvariant_cast<QImage>(mime->imageData());
  return p;
}

}  // namespace ql::ui
