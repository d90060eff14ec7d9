#include "ui/chat/compose_edit.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QKeyEvent>
#include <QMimeData>
#include <QUrl>

#include "ui/chat/image_mime.h"

namespace ql::ui {
namespace {

// Only folders (nothing we take, nothing to type): leave the drop to the window.
bool only_folders(const QMimeData* mime) {
  return mime && mime->hasUrls() && images_offered_by(mime).empty() && !mime->urls().isEmpty();
}

// Images are taken here, folders are left to the window (which opens them),
// anything else (text) goes to the editor. False: the editor's turn.
bool handled_drag(QDragMoveEvent* event) {
  if (!images_offered_by(event->mimeData()).empty()) {
    event->acceptProposedAction();
    return true;
  }
  if (only_folders(event->mimeData())) {
    event->ignore();
    return true;
  }
  return false;
}

}  // namespace

ComposeEdit::ComposeEdit(QWidget* parent) : QPlainTextEdit(parent) {
  setObjectName("composeEdit");
  setAcceptDrops(true);
  setTabChangesFocus(true);
  setPlaceholderText(tr("Ask about an image\u2026  (Ctrl+Enter sends; drop, paste or attach images)"));
}

void ComposeEdit::keyPressEvent(QKeyEvent* event) {
  const bool enter = event->key() == Qt::Key_Return || event->key() == Qt::Key_Enter;
  if (enter && (event->modifiers() & Qt::ControlModifier)) {
    event->accept();
    emit sendRequested();
    return;
  }
  QPlainTextEdit::keyPressEvent(event);
}

bool ComposeEdit::offerImages(const QMimeData* source, const QString& verb) {
  const OfferedImages offered = images_offered_by(source);
  if (offered.empty()) return false;
  if (!offered.files.isEmpty()) emit filesOffered(offered.files);
  for (const QImage& image : offered.images) emit imageOffered(image, verb);
  return true;
}

bool ComposeEdit::canInsertFromMimeData(const QMimeData* source) const {
  return !images_offered_by(source).empty() || QPlainTextEdit::canInsertFromMimeData(source);
}

void ComposeEdit::insertFromMimeData(const QMimeData* source) {
  // Paste ends here; the text around the cursor is left as it is.
  if (offerImages(source, tr("pasted image"))) return;
  QPlainTextEdit::insertFromMimeData(source);
}

void ComposeEdit::dragEnterEvent(QDragEnterEvent* event) {
  if (!handled_drag(event)) QPlainTextEdit::dragEnterEvent(event);
}

void ComposeEdit::dragMoveEvent(QDragMoveEvent* event) {
  if (!handled_drag(event)) QPlainTextEdit::dragMoveEvent(event);
}

void ComposeEdit::dropEvent(QDropEvent* event) {
  if (offerImages(event->mimeData(), tr("dropped image"))) {
    event->acceptProposedAction();
    return;
  }
  if (only_folders(event->mimeData())) {
    event->ignore();
    return;
  }
  QPlainTextEdit::dropEvent(event);
}

}  // namespace ql::ui
