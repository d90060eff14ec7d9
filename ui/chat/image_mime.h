#pragma once
// Which images a drop or a paste offers: local files (file URLs; any file
// is taken, so a file that is not an image gets a clear error instead of
// vanishing) or raw image data. Folders are not images: they are left out,
// so a drop of a folder stays with whoever handles folders (the window
// opens a model folder).
#include <QImage>
#include <QList>
#include <QStringList>

class QMimeData;

namespace ql::ui {

struct OfferedImages {
  QStringList files;     // absolute paths, in the order offered
  QList<QImage> images;  // raw image data, only when no file was offered
  bool empty() const { return files.isEmpty() && images.isEmpty(); }
};

OfferedImages images_offered_by(const QMimeData* mime);

}  // namespace ql::ui
