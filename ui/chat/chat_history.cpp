#include "ui/chat/chat_history.h"

#include <QScrollBar>
#include <QVBoxLayout>

namespace ql::ui {

ChatHistory::ChatHistory(QWidget* parent) : QScrollArea(parent) {
  setObjectName("chatHistory");
  setWidgetResizable(true);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  column_ = new QWidget(this);
  layout_ = new QVBoxLayout(column_);
  layout_->addStretch();  // messages sit at the top; new ones go above this
  setWidget(column_);

  QScrollBar* bar = verticalScrollBar();
  connect(bar, &QScrollBar::valueChanged, this, [this, bar](int value) { follow_ = value >= bar->maximum() - 8; });
  connect(bar, &QScrollBar::rangeChanged, this, [this, bar](int, int max) {
    if (follow_) bar->setValue(max);
  });
}

void ChatHistory::append(QWidget* message) {
  message->setParent(column_);
  layout_->insertWidget(layout_->count() - 1, message);
  messages_.append(message);
  follow_ = true;  // a new message is always brought into view
}

void ChatHistory::removeLast() {
  if (messages_.isEmpty()) return;
  QWidget* last = messages_.takeLast();
  layout_->removeWidget(last);
  last->hide();
  last->deleteLater();  // may be the sender of the signal being handled
}

void ChatHistory::clear() {
  while (!messages_.isEmpty()) removeLast();
  follow_ = true;
}

}  // namespace ql::ui
