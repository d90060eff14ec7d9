#include "ui/chat/inline_notice.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>

namespace ql::ui {

InlineNotice::InlineNotice(QWidget* parent) : QFrame(parent) {
  setObjectName("chatNotice");
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(8, 4, 4, 4);
  label_ = new QLabel(this);
  label_->setObjectName("chatNoticeText");
  label_->setTextFormat(Qt::PlainText);  // file names and engine messages, verbatim
  label_->setWordWrap(true);
  label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(label_, 1);
  close_ = new QToolButton(this);
  close_->setText(QString::fromUtf8("\u2715"));
  close_->setAutoRaise(true);
  close_->setToolTip(tr("Dismiss"));
  layout->addWidget(close_, 0, Qt::AlignTop);
  connect(close_, &QToolButton::clicked, this, &InlineNotice::dismiss);
  hide();
}

void InlineNotice::showError(const QString& text) { show_text(text, true); }

void InlineNotice::showInfo(const QString& text) { show_text(text, false); }

void InlineNotice::dismiss() {
  label_->clear();
  hide();
}

QString InlineNotice::text() const { return isHidden() ? QString() : label_->text(); }

void InlineNotice::show_text(const QString& text, bool error) {
  error_ = error;
  label_->setText(text);
  // Translucent tints read on light and dark palettes alike.
  setStyleSheet(error ? "#chatNotice { background: rgba(220, 50, 50, 30); border: 1px solid rgba(220, 50, 50, 150); "
                        "border-radius: 4px; }"
                      : "#chatNotice { background: rgba(50, 120, 220, 25); border: 1px solid rgba(50, 120, 220, 120); "
                        "border-radius: 4px; }");
  show();
}

}  // namespace ql::ui
