#include "ui/chat/user_message_widget.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

#include "ui/chat/image_attachment.h"

namespace ql::ui {
namespace {

constexpr int kSide = 160;  // thumbnail side in the history

QLabel* image_label(const ChatImage& image, QWidget* parent) {
  auto* label = new QLabel(parent);
  label->setObjectName("messageImage");
  label->setToolTip(image.source_path.isEmpty() ? image.label : image.source_path);
  QImage thumbnail = image.thumbnail.isNull() ? thumbnail_of_file(image.source_path) : image.thumbnail;
  if (thumbnail.isNull()) {
    // A reopened conversation whose image copy was deleted: say which one.
    label->setText(QObject::tr("[missing image: %1]").arg(image.label));
    return label;
  }
  if (thumbnail.width() > kSide || thumbnail.height() > kSide) {
    thumbnail = thumbnail.scaled(kSide, kSide, Qt::KeepAspectRatio, Qt::SmoothTransformation);
  }
  label->setPixmap(QPixmap::fromImage(thumbnail));
  return label;
}

}  // namespace

UserMessageWidget::UserMessageWidget(const ChatMessage& message, QWidget* parent) : QFrame(parent) {
  setObjectName("userMessage");
  setFrameShape(QFrame::StyledPanel);
  setBackgroundRole(QPalette::AlternateBase);
  setAutoFillBackground(true);
  auto* layout = new QVBoxLayout(this);

  auto* who = new QLabel(tr("You"), this);
  QFont bold = who->font();
  bold.setBold(true);
  who->setFont(bold);
  layout->addWidget(who);

  if (!message.images.isEmpty()) {
    auto* row = new QHBoxLayout;
    for (const ChatImage& image : message.images) {
      QLabel* label = image_label(image, this);
      image_labels_.append(label);
      row->addWidget(label);
    }
    row->addStretch();
    layout->addLayout(row);
  }

  text_ = new QLabel(this);
  text_->setObjectName("messageText");
  text_->setTextFormat(Qt::PlainText);  // the user's words, shown as typed
  text_->setWordWrap(true);
  text_->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
  text_->setText(message.text);
  text_->setVisible(!message.text.isEmpty());
  layout->addWidget(text_);
}

QString UserMessageWidget::text() const { return text_->text(); }

}  // namespace ql::ui
