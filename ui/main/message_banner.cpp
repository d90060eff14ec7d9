#include "ui/main/message_banner.h"

#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/main/theme.h"

namespace ql::ui {

MessageBanner::MessageBanner(Kind kind, QWidget* parent) : QFrame(parent), kind_(kind) {
  setFrameShape(QFrame::StyledPanel);
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(8, 6, 8, 6);
  auto* row = new QHBoxLayout;
  icon_ = new QLabel(this);
  const QStyle::StandardPixmap icon =
      kind == Kind::kError ? QStyle::SP_MessageBoxWarning : QStyle::SP_MessageBoxInformation;
  icon_->setPixmap(style()->standardIcon(icon).pixmap(20, 20));
  row->addWidget(icon_, 0, Qt::AlignTop);
  summary_ = new QLabel(this);
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextBrowserInteraction);
  summary_->setOpenExternalLinks(false);
  connect(summary_, &QLabel::linkActivated, this, &MessageBanner::linkActivated);
  row->addWidget(summary_, 1);
  details_button_ = new QPushButton(tr("Details"), this);
  details_button_->setCheckable(true);
  details_button_->setToolTip(tr("Show the whole message"));
  row->addWidget(details_button_, 0, Qt::AlignTop);
  close_ = new QToolButton(this);
  close_->setText(QStringLiteral("\u2715"));
  close_->setAutoRaise(true);
  close_->setToolTip(tr("Close"));
  row->addWidget(close_, 0, Qt::AlignTop);
  outer->addLayout(row);
  details_ = new QLabel(this);
  details_->setWordWrap(true);
  details_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  details_->setTextFormat(Qt::PlainText);
  details_->setVisible(false);
  outer->addWidget(details_);

  connect(details_button_, &QPushButton::toggled, details_, &QLabel::setVisible);
  connect(close_, &QToolButton::clicked, this, &MessageBanner::dismiss);
  restyle();
  setVisible(false);
}

void MessageBanner::showMessage(const QString& summary, const QString& details) {
  ++count_;
  summary_text_ = summary;
  details_text_ = details;
  summary_->setTextFormat(Qt::PlainText);
  summary_->setText(count_ > 1 && kind_ == Kind::kError ? tr("%1 (%2 errors so far; this is the latest)")
                                                               .arg(summary)
                                                               .arg(count_)
                                                         : summary);
  details_->setText(details);
  details_button_->setVisible(!details.isEmpty());
  details_button_->setChecked(false);
  setVisible(true);
}

void MessageBanner::showRichText(const QString& html) {
  ++count_;
  summary_text_ = html;
  details_text_.clear();
  summary_->setTextFormat(Qt::RichText);
  summary_->setText(html);
  details_button_->setVisible(false);
  setVisible(true);
}

void MessageBanner::dismiss() {
  count_ = 0;
  setVisible(false);
}

QString MessageBanner::summary() const { return summary_text_; }

void MessageBanner::changeEvent(QEvent* event) {
  QFrame::changeEvent(event);
  // The theme changed (View > Theme, or the system's): recolour.
  if (!restyling_ && event->type() == QEvent::PaletteChange) restyle();
}

void MessageBanner::restyle() {
  const bool dark = palette_is_dark(palette());
  QColor bg, border;
  if (kind_ == Kind::kError) {
    bg = dark ? QColor(0x5a, 0x1e, 0x1e) : QColor(0xfd, 0xe7, 0xe6);
    border = dark ? QColor(0xa0, 0x3a, 0x3a) : QColor(0xe0, 0x8a, 0x85);
  } else {
    bg = dark ? QColor(0x4a, 0x3f, 0x12) : QColor(0xff, 0xf4, 0xce);
    border = dark ? QColor(0x9a, 0x82, 0x2a) : QColor(0xe0, 0xc0, 0x5a);
  }
  const QColor text = dark ? QColor(0xf0, 0xf0, 0xf0) : QColor(0x1f, 0x1f, 0x1f);
  // setStyleSheet sends a PaletteChange of its own: not a theme change.
  restyling_ = true;
  setStyleSheet(QString("ql--ui--MessageBanner { background: %1; border: 1px solid %2; border-radius: 4px; }"
                        "ql--ui--MessageBanner QLabel { color: %3; }")
                    .arg(bg.name(), border.name(), text.name()));
  restyling_ = false;
}

}  // namespace ql::ui
