#pragma once
// A question in the history: its images as thumbnails, then its text.
#include <QFrame>

#include "ui/chat/chat_types.h"

class QLabel;

namespace ql::ui {

class UserMessageWidget : public QFrame {
  Q_OBJECT
 public:
  explicit UserMessageWidget(const ChatMessage& message, QWidget* parent = nullptr);

  // One label per image, in order (a missing stored image shows its name).
  const QList<QLabel*>& imageLabels() const { return image_labels_; }
  QString text() const;

 private:
  QList<QLabel*> image_labels_;
  QLabel* text_ = nullptr;
};

}  // namespace ql::ui
