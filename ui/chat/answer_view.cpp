#include "ui/chat/answer_view.h"

#include <QAbstractTextDocumentLayout>
#include <QDesktopServices>
#include <QScrollBar>
#include <QtMath>

#include "ui/chat/markdown_render.h"

namespace ql::ui {
namespace {

QColor blend(const QColor& a, const QColor& b, double t) {
  return QColor::fromRgbF(a.redF() * (1 - t) + b.redF() * t, a.greenF() * (1 - t) + b.greenF() * t,
                          a.blueF() * (1 - t) + b.blueF() * t);
}

}  // namespace

AnswerView::AnswerView(QWidget* parent) : QTextBrowser(parent) {
  setObjectName("answerView");
  setOpenLinks(false);
  setFrameShape(QFrame::NoFrame);
  setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);  // wide code lines do not wrap
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  viewport()->setAutoFillBackground(false);
  connect(this, &QTextBrowser::anchorClicked, this, [](const QUrl& url) {
    if (url.scheme() == "http" || url.scheme() == "https") QDesktopServices::openUrl(url);
  });
  connect(document()->documentLayout(), &QAbstractTextDocumentLayout::documentSizeChanged, this,
          [this] { fitHeight(); });
  fitHeight();
}

void AnswerView::setMarkdownText(const QString& markdown) {
  markdown_ = markdown;
  ++render_count_;
  render();
}

void AnswerView::render() {
  // The tint follows the palette, so code stays readable in dark themes too.
  const QPalette& p = palette();
  render_markdown(document(), markdown_, {blend(p.color(QPalette::Base), p.color(QPalette::Text), 0.08)});
  fitHeight();
}

void AnswerView::changeEvent(QEvent* event) {
  QTextBrowser::changeEvent(event);
  if (event->type() == QEvent::PaletteChange && !markdown_.isEmpty()) render();  // theme switched
}

QVariant AnswerView::loadResource(int, const QUrl&) { return {}; }

void AnswerView::resizeEvent(QResizeEvent* event) {
  QTextBrowser::resizeEvent(event);
  fitHeight();
}

void AnswerView::fitHeight() {
  document()->setTextWidth(viewport()->width());
  int height = qCeil(document()->size().height()) + 2 * frameWidth();
  const QMargins margins = contentsMargins();
  height += margins.top() + margins.bottom();
  if (horizontalScrollBar()->isVisible()) height += horizontalScrollBar()->height();
  if (height != this->height()) setFixedHeight(height);
}

}  // namespace ql::ui
