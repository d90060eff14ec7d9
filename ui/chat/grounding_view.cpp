#include "ui/chat/grounding_view.h"

#include <QDir>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QPushButton>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

namespace ql::ui {
namespace {

constexpr int kMaxCanvasWidth = 520;  // the picture's width in the history at most
constexpr double kPointReachPx = 8;

QString shapeName(const engine::PixelShape& s, int i) {
  return s.label.empty() ? QObject::tr("item %1").arg(i + 1) : QString::fromStdString(s.label);
}

}  // namespace

QColor GroundingView::colourOf(int i) {
  static const QColor kColours[] = {QColor(230, 25, 75),  QColor(60, 180, 75),  QColor(0, 130, 200),
                                    QColor(245, 130, 48), QColor(145, 30, 180), QColor(70, 190, 190),
                                    QColor(240, 50, 230), QColor(128, 128, 0)};
  return kColours[static_cast<size_t>(i) % (sizeof kColours / sizeof kColours[0])];
}

void paint_grounding(QPainter& p, const std::vector<engine::PixelShape>& shapes, double scale, int highlighted) {
  p.setRenderHint(QPainter::Antialiasing);
  QFont f = p.font();
  f.setPixelSize(std::max(11, static_cast<int>(std::lround(13 * std::max(1.0, scale)))));
  f.setBold(true);
  p.setFont(f);
  const QFontMetrics fm(f);
  for (size_t i = 0; i < shapes.size(); ++i) {
    const auto& s = shapes[i];
    const QColor c = GroundingView::colourOf(static_cast<int>(i));
    const bool hot = static_cast<int>(i) == highlighted;
    QPen pen(c, (hot ? 4.0 : 2.0) * std::max(1.0, scale));
    p.setPen(pen);
    QPointF anchor;
    if (s.kind == engine::GroundingShape::Kind::kBox) {
      const QRectF r(QPointF(s.coords[0] * scale, s.coords[1] * scale), QPointF(s.coords[2] * scale, s.coords[3] * scale));
      // (QBrush on both sides: Qt::NoBrush would otherwise convert to QColor(0), opaque black.)
      p.setBrush(hot ? QBrush(QColor(c.red(), c.green(), c.blue(), 60)) : QBrush(Qt::NoBrush));
      p.drawRect(r);
      anchor = r.topLeft();
    } else {
      const QPointF at(s.coords[0] * scale, s.coords[1] * scale);
      const double radius = (hot ? 7.0 : 5.0) * std::max(1.0, scale);
      p.setBrush(c);
      p.drawEllipse(at, radius, radius);
      anchor = at + QPointF(radius, -radius);
    }
    const QString text = shapeName(s, static_cast<int>(i));
    if (text.isEmpty()) continue;
    const QRectF label(anchor.x(), std::max(0.0, anchor.y() - fm.height()), fm.horizontalAdvance(text) + 6, fm.height());
    p.setPen(Qt::NoPen);
    p.setBrush(c);
    p.drawRect(label);
    p.setPen(Qt::white);
    p.drawText(label.adjusted(3, 0, 0, 0), Qt::AlignVCenter | Qt::AlignLeft, text);
  }
}

GroundingView::GroundingView(const QImage& picture, const engine::GroundingParse& parsed, QWidget* parent)
    : QWidget(parent), picture_(picture) {
  setObjectName("groundingView");
  for (const auto& s : parsed.shapes) shapes_.push_back(engine::to_pixels(s, picture_.width(), picture_.height()));
  for (const auto& p : parsed.problems) problems_ << QString::fromStdString(p);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 4, 0, 4);
  canvas_ = new GroundingCanvas(this);
  layout->addWidget(canvas_, 0, Qt::AlignLeft);
  legend_ = new QLabel(this);
  legend_->setObjectName("groundingLegend");
  legend_->setTextFormat(Qt::RichText);
  legend_->setWordWrap(true);
  layout->addWidget(legend_);
  auto* row = new QHBoxLayout;
  auto* save = new QPushButton(tr("Save picture with boxes..."), this);
  save->setObjectName("groundingSave");
  status_ = new QLabel(this);
  status_->setObjectName("groundingStatus");
  row->addWidget(save);
  row->addWidget(status_, 1);
  layout->addLayout(row);
  connect(save, &QPushButton::clicked, this, &GroundingView::chooseAndSavePng);
  updateLegend();
}

void GroundingView::setHighlighted(int i) {
  if (i == highlighted_) return;
  highlighted_ = i;
  updateLegend();
  canvas_->update();
}

void GroundingView::updateLegend() {
  QStringList items;
  for (size_t i = 0; i < shapes_.size(); ++i) {
    const QString name = shapeName(shapes_[i], static_cast<int>(i)).toHtmlEscaped();
    const QString colour = colourOf(static_cast<int>(i)).name();
    const bool hot = static_cast<int>(i) == highlighted_;
    items << (hot ? QStringLiteral("<span style=\"background:%1;color:white\"><b>&#9632; %2</b></span>")
                  : QStringLiteral("<span style=\"color:%1\">&#9632;</span> %2"))
                 .arg(colour, name);
  }
  QString html = items.join(QStringLiteral("&nbsp;&nbsp; "));
  for (const QString& p : problems_) html += QStringLiteral("<br><i>%1</i>").arg(tr("Not drawn: %1").arg(p).toHtmlEscaped());
  legend_->setText(html);
}

QImage GroundingView::annotated() const {
  QImage out = picture_.convertToFormat(QImage::Format_ARGB32);
  QPainter p(&out);
  const double thick = std::max(1.0, std::min(out.width(), out.height()) / 400.0);
  // Line widths and label size follow the picture, so a large picture's boxes stay visible.
  p.scale(1.0 / thick, 1.0 / thick);
  paint_grounding(p, shapes_, thick, -1);
  return out;
}

bool GroundingView::savePng(const QString& path) {
  const bool ok = annotated().save(path, "PNG");
  status_->setText(ok ? tr("Saved %1").arg(QDir::toNativeSeparators(path))
                      : tr("Could not write %1").arg(QDir::toNativeSeparators(path)));
  return ok;
}

void GroundingView::chooseAndSavePng() {
  const QString path = QFileDialog::getSaveFileName(this, tr("Save the picture with its boxes"), "grounding.png",
                                                    tr("PNG images (*.png)"));
  if (!path.isEmpty()) savePng(path);
}

GroundingCanvas::GroundingCanvas(GroundingView* view) : QWidget(view), view_(view) {
  setObjectName("groundingCanvas");
  setMouseTracking(true);
  setFixedSize(sizeHint());
}

double GroundingCanvas::scale() const {
  const QImage& pic = view_->picture_;
  if (pic.width() <= 0) return 1;
  return std::min(1.0, static_cast<double>(kMaxCanvasWidth) / pic.width());
}

QSize GroundingCanvas::sizeHint() const {
  const QImage& pic = view_->picture_;
  return QSize(static_cast<int>(std::lround(pic.width() * scale())), static_cast<int>(std::lround(pic.height() * scale())));
}

int GroundingCanvas::shapeAt(const QPointF& pos) const {
  const double s = scale();
  int best = -1;
  double best_area = 0;
  for (size_t i = 0; i < view_->shapes_.size(); ++i) {
    const auto& sh = view_->shapes_[i];
    if (sh.kind == engine::GroundingShape::Kind::kPoint) {
      if (std::hypot(pos.x() - sh.coords[0] * s, pos.y() - sh.coords[1] * s) <= kPointReachPx) return static_cast<int>(i);
      continue;
    }
    const QRectF r(QPointF(sh.coords[0] * s, sh.coords[1] * s), QPointF(sh.coords[2] * s, sh.coords[3] * s));
    if (!r.contains(pos)) continue;
    const double area = r.width() * r.height();
    if (best < 0 || area < best_area) {  // the smallest box under the mouse: nested boxes stay reachable
      best = static_cast<int>(i);
      best_area = area;
    }
  }
  return best;
}

void GroundingCanvas::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.drawImage(rect(), view_->picture_);
  paint_grounding(p, view_->shapes_, scale(), view_->highlighted_);
}

void GroundingCanvas::mouseMoveEvent(QMouseEvent* e) {
  const int i = shapeAt(e->position());
  view_->setHighlighted(i);
  if (i >= 0) QToolTip::showText(e->globalPosition().toPoint(), shapeName(view_->shapes_[static_cast<size_t>(i)], i), this);
  else QToolTip::hideText();
}

void GroundingCanvas::leaveEvent(QEvent*) { view_->setHighlighted(-1); }

}  // namespace ql::ui
