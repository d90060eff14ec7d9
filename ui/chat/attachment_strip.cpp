#include "ui/chat/attachment_strip.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QScrollBar>
#include <QToolButton>
#include <QVBoxLayout>

namespace ql::ui {
namespace {

constexpr int kSide = 64;  // thumbnail side in the strip, in device-independent pixels

QWidget* make_tile(const ChatImage& image, QWidget* parent, QToolButton** remove) {
  auto* tile = new QFrame(parent);
  tile->setFrameShape(QFrame::StyledPanel);
  tile->setSizePolicy(QSizePolicy::Fixed, QSizePolicy::Fixed);
  auto* layout = new QVBoxLayout(tile);
  layout->setContentsMargins(2, 2, 2, 2);
  layout->setSpacing(0);

  auto* top = new QHBoxLayout;
  top->addStretch();
  *remove = new QToolButton(tile);
  (*remove)->setObjectName("removeAttachment");
  (*remove)->setText(QString::fromUtf8("\u2715"));
  (*remove)->setAutoRaise(true);
  (*remove)->setToolTip(QObject::tr("Remove %1").arg(image.label));
  (*remove)->setAccessibleName(QObject::tr("Remove %1").arg(image.label));
  top->addWidget(*remove);
  layout->addLayout(top);

  auto* picture = new QLabel(tile);
  picture->setAlignment(Qt::AlignCenter);
  picture->setFixedSize(kSide, kSide);
  if (!image.thumbnail.isNull()) {
    picture->setPixmap(QPixmap::fromImage(image.thumbnail.scaled(kSide, kSide, Qt::KeepAspectRatio,
                                                                 Qt::SmoothTransformation)));
  }
  picture->setToolTip(image.source_path.isEmpty() ? image.label : image.source_path);
  layout->addWidget(picture, 0, Qt::AlignCenter);

  auto* name = new QLabel(tile);
  name->setText(name->fontMetrics().elidedText(image.label, Qt::ElideMiddle, kSide + 8));
  name->setAlignment(Qt::AlignCenter);
  QFont small = name->font();
  small.setPointSizeF(small.pointSizeF() * 0.85);
  name->setFont(small);
  layout->addWidget(name);
  return tile;
}

}  // namespace

AttachmentStrip::AttachmentStrip(QWidget* parent) : QScrollArea(parent) {
  setObjectName("attachmentStrip");
  setWidgetResizable(true);
  setFrameShape(QFrame::NoFrame);
  setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
  row_ = new QWidget(this);
  layout_ = new QHBoxLayout(row_);
  layout_->setContentsMargins(0, 0, 0, 0);
  setWidget(row_);
  rebuild();
}

void AttachmentStrip::add(const ChatImage& image) {
  images_.append(image);
  rebuild();
  emit changed();
}

void AttachmentStrip::removeAt(int index) {
  if (index < 0 || index >= images_.size()) return;
  images_.removeAt(index);
  rebuild();
  emit changed();
}

QList<ChatImage> AttachmentStrip::takeAll() {
  QList<ChatImage> out = std::move(images_);
  images_.clear();
  rebuild();
  emit changed();
  return out;
}

QList<QToolButton*> AttachmentStrip::removeButtons() const { return buttons_; }

void AttachmentStrip::rebuild() {
  // Few tiles, rebuilt whole: simpler than keeping indices in step. The old
  // tiles go later: this may run inside one of their buttons' clicked().
  buttons_.clear();
  while (QLayoutItem* item = layout_->takeAt(0)) {
    if (QWidget* w = item->widget()) {
      w->hide();
      w->deleteLater();
    }
    delete item;
  }
  for (int i = 0; i < images_.size(); ++i) {
    QToolButton* remove = nullptr;
    layout_->addWidget(make_tile(images_[i], row_, &remove));
    buttons_.append(remove);
    connect(remove, &QToolButton::clicked, this, [this, i] { removeAt(i); });
  }
  layout_->addStretch();
  setVisible(!images_.isEmpty());
  if (!images_.isEmpty()) setFixedHeight(row_->sizeHint().height() + horizontalScrollBar()->sizeHint().height());
}

}  // namespace ql::ui
