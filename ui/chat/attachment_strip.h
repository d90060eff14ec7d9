#pragma once
// The images waiting to be sent with the next question, as a row of
// thumbnails above the compose box, each with its own remove button. Hidden
// while empty.
#include <QList>
#include <QScrollArea>

#include "ui/chat/chat_types.h"

class QHBoxLayout;
class QToolButton;

namespace ql::ui {

class AttachmentStrip : public QScrollArea {
  Q_OBJECT
 public:
  explicit AttachmentStrip(QWidget* parent = nullptr);

  const QList<ChatImage>& images() const { return images_; }
  int count() const { return static_cast<int>(images_.size()); }
  void add(const ChatImage& image);
  void removeAt(int index);
  // Empties the strip and returns what it held (sending, or handing back).
  QList<ChatImage> takeAll();
  // The remove buttons, in order (tests click them).
  QList<QToolButton*> removeButtons() const;

 signals:
  void changed();

 private:
  void rebuild();

  QList<ChatImage> images_;
  QList<QToolButton*> buttons_;  // the current tiles' remove buttons
  QWidget* row_ = nullptr;
  QHBoxLayout* layout_ = nullptr;
};

}  // namespace ql::ui
