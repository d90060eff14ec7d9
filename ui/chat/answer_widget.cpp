#include "ui/chat/answer_widget.h"

#include <QClipboard>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

#include "ui/chat/answer_stats.h"
#include "ui/chat/answer_view.h"
#include "ui/chat/grounding_view.h"
#include "ui/chat/render_throttle.h"

namespace ql::ui {

AnswerWidget::AnswerWidget(QWidget* parent) : QFrame(parent) {
  setObjectName("answerMessage");
  auto* layout = new QVBoxLayout(this);

  auto* header = new QHBoxLayout;
  auto* who = new QLabel(tr("Assistant"), this);
  QFont bold = who->font();
  bold.setBold(true);
  who->setFont(bold);
  header->addWidget(who);
  header->addStretch();
  copy_ = new QPushButton(tr("Copy"), this);
  copy_->setObjectName("copyAnswer");
  copy_->setToolTip(tr("Copy this answer (Markdown) to the clipboard"));
  copy_->setFlat(true);
  header->addWidget(copy_);
  regenerate_ = new QPushButton(tr("Regenerate"), this);
  regenerate_->setObjectName("regenerateAnswer");
  regenerate_->setToolTip(tr("Ask the last question again for a new answer"));
  regenerate_->setFlat(true);
  regenerate_->setVisible(false);
  header->addWidget(regenerate_);
  layout->addLayout(header);

  view_ = new AnswerView(this);
  layout->addWidget(view_);

  stats_ = new QLabel(this);
  stats_->setObjectName("answerStats");
  QFont small = stats_->font();
  small.setPointSizeF(small.pointSizeF() * 0.85);
  stats_->setFont(small);
  // Grey in light and dark themes alike, and it follows a theme change.
  stats_->setForegroundRole(QPalette::PlaceholderText);
  stats_->setText(tr("Thinking\u2026"));
  layout->addWidget(stats_);

  throttle_ = new RenderThrottle(50, this);
  connect(throttle_, &RenderThrottle::due, this, &AnswerWidget::render);
  connect(copy_, &QPushButton::clicked, this, [this] { QGuiApplication::clipboard()->setText(text_); });
  connect(regenerate_, &QPushButton::clicked, this, &AnswerWidget::regenerateRequested);
}

void AnswerWidget::setStreamingText(const QString& text) {
  text_ = text;
  throttle_->request();
}

void AnswerWidget::setFinished(const QString& text, const std::optional<AnswerStats>& stats) {
  text_ = text;
  throttle_->flush();
  render();
  stats_->setText(stats ? answer_stats_text(*stats) : QString());
  stats_->setVisible(stats.has_value());
}

void AnswerWidget::setRegenerateVisible(bool visible) { regenerate_->setVisible(visible); }

void AnswerWidget::showGrounding(const QImage& picture) {
  showGrounding([&picture] { return picture; });
}

void AnswerWidget::showGrounding(const std::function<QImage()>& picture) {
  if (grounding_) {
    grounding_->deleteLater();
    grounding_ = nullptr;
  }
  const engine::GroundingParse parsed = engine::parse_grounding(text_.toStdString());
  if (parsed.shapes.empty()) return;  // problems alone stay in the text, which shows them
  const QImage image = picture();      // read only for an answer that has something to draw
  if (image.isNull()) return;
  grounding_ = new GroundingView(image, parsed, this);
  auto* box = qobject_cast<QVBoxLayout*>(layout());
  box->insertWidget(box->indexOf(stats_), grounding_);
}

void AnswerWidget::render() {
  if (view_->markdownText() != text_) view_->setMarkdownText(text_);
}

}  // namespace ql::ui
