#include "ui/chat/image_mime.h"

#include <QFileInfo>
#include <QMimeData>
#include <QUrl>

namespace ql::ui {

OfferedImages images_offered_by(const QMimeData* mime) {
  OfferedImages out;
  if (!mime) return out;
  if (mime->hasUrls()) {
    for (const QUrl& url : mime->urls()) {
      if (!url.isLocalFile()) continue;  // a web address: nothing to read here
      const QString path = url.toLocalFile();
      if (QFileInfo(path).isDir()) continue;
      out.files.append(path);
    }
  }
  // Applications often offer both a file URL and its pixels; the file keeps
  // its name and its original bytes, so it wins.
  if (out.files.isEmpty() && mime->hasImage()) {
    const QImage image = qvariant_cast<QImage>(mime->imageData());
    if (!image.isNull()) out.images.append(image);
  }
  return out;
}

}  // namespace ql::ui
