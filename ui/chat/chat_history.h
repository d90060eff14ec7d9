#pragma once
// The conversation so far: a scrolling column of question and answer
// widgets. It follows the newest text while the view is at the bottom, and
// stays put when the user has scrolled up to read.
#include <QList>
#include <QScrollArea>

class QVBoxLayout;

namespace ql::ui {

class ChatHistory : public QScrollArea {
  Q_OBJECT
 public:
  explicit ChatHistory(QWidget* parent = nullptr);

  void append(QWidget* message);
  // Removes (and deletes) the last message widget, if any.
  void removeLast();
  void clear();

  int count() const { return static_cast<int>(messages_.size()); }
  QWidget* at(int index) const { return messages_.value(index); }
  const QList<QWidget*>& messages() const { return messages_; }

 private:
  QWidget* column_ = nullptr;
  QVBoxLayout* layout_ = nullptr;
  QList<QWidget*> messages_;
  bool follow_ = true;  // keep the bottom in view as content grows
};

}  // namespace ql::ui
