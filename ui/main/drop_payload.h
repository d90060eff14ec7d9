#pragma once
// What a drop on the window carries, sorted for the window: a folder (a model
// to open), image files and image data (for the chat), or nothing usable.
#include <QImage>
#include <QString>
#include <QStringList>

class QMimeData;

namespace ql::ui {

struct DropPayload {
  QString folder;           // the first local folder dropped
  QStringList image_files;  // local files with an image suffix Qt can read
  QImage image;             // image data (e.g. dragged from a browser), when no files came

  bool empty() const { return folder.isEmpty() && image_files.isEmpty() && image.isNull(); }
};

DropPayload read_drop(const QMimeData* mime);

}  // namespace ql::ui
