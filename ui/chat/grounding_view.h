#pragma once
// The boxes and points of a grounding answer (core/engine/grounding.h) drawn
// on the picture they refer to: each shape in its own colour with its label,
// the picture scaled to the answer's width. Hovering a shape highlights it
// and its label in the list below; "Save PNG..." writes the picture at its
// own size with the shapes drawn on it. Items the parser left out are listed
// as text under the picture.
#include <QImage>
#include <QString>
#include <QStringList>
#include <QWidget>
#include <vector>

#include "core/engine/grounding.h"

class QLabel;
class QPushButton;

namespace ql::ui {

class GroundingCanvas;

class GroundingView : public QWidget {
  Q_OBJECT
 public:
  GroundingView(const QImage& picture, const engine::GroundingParse& parsed, QWidget* parent = nullptr);

  int shapeCount() const { return static_cast<int>(shapes_.size()); }
  // Shape i in pixels of the picture.
  const engine::PixelShape& shape(int i) const { return shapes_.at(static_cast<size_t>(i)); }
  // The shape under the mouse (-1: none).
  int highlighted() const { return highlighted_; }
  // The picture at its own size with every shape drawn on it.
  QImage annotated() const;
  // false (and says why under the picture) when the file cannot be written.
  bool savePng(const QString& path);
  // The canvas, for tests (its coordinates map to the picture by a scale).
  GroundingCanvas* canvas() const { return canvas_; }
  QLabel* legend() const { return legend_; }

  // Distinct colours, one per shape in order.
  static QColor colourOf(int i);

 private:
  friend class GroundingCanvas;
  void setHighlighted(int i);
  void updateLegend();
  void chooseAndSavePng();

  QImage picture_;
  std::vector<engine::PixelShape> shapes_;
  QStringList problems_;
  int highlighted_ = -1;
  GroundingCanvas* canvas_ = nullptr;
  QLabel* legend_ = nullptr;
  QLabel* status_ = nullptr;
};

// Paints the scaled picture and the shapes; tracks the mouse.
class GroundingCanvas : public QWidget {
  Q_OBJECT
 public:
  explicit GroundingCanvas(GroundingView* view);
  QSize sizeHint() const override;
  // Picture pixels per canvas pixel's inverse: canvas = picture * scale().
  double scale() const;
  // The shape at a canvas position (-1: none); boxes by area, points within 8 px.
  int shapeAt(const QPointF& canvas_pos) const;

 protected:
  void paintEvent(QPaintEvent*) override;
  void mouseMoveEvent(QMouseEvent* e) override;
  void leaveEvent(QEvent*) override;

 private:
  GroundingView* view_;
};

// Draws the shapes on a painter whose coordinates are the picture's, scaled by `scale` (shared by the
// canvas and annotated()).
void paint_grounding(class QPainter& p, const std::vector<engine::PixelShape>& shapes, double scale, int highlighted);

}  // namespace ql::ui
