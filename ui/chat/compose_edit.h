#pragma once
// The compose box: a plain-text editor that takes images as well as text.
// Images dropped on it or pasted into it (Ctrl+V: image data or copied files)
// are handed to the panel instead of being inserted as text; Ctrl+Enter asks
// to send. A drop of folders only is ignored here so that it reaches the
// window (which opens model folders).
#include <QImage>
#include <QPlainTextEdit>
#include <QStringList>

namespace ql::ui {

class ComposeEdit : public QPlainTextEdit {
  Q_OBJECT
 public:
  explicit ComposeEdit(QWidget* parent = nullptr);

 signals:
  void sendRequested();
  void filesOffered(const QStringList& paths);
  void imageOffered(const QImage& image, const QString& label);

 protected:
  void keyPressEvent(QKeyEvent* event) override;
  bool canInsertFromMimeData(const QMimeData* source) const override;
  void insertFromMimeData(const QMimeData* source) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dragMoveEvent(QDragMoveEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  // True when `source` carried images (now offered); `verb` names the image data.
  bool offerImages(const QMimeData* source, const QString& verb);
};

}  // namespace ql::ui
