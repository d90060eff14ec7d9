#pragma once
// An answer in the history: its Markdown (re-rendered at most ~20 times a
// second while tokens stream in), the figures of its generation in small
// grey text, and its buttons: Copy, and Regenerate on the last answer; a
// grounding answer's boxes drawn on the question's picture.
#include <QFrame>
#include <QImage>
#include <functional>

#include "ui/chat/chat_types.h"

class QLabel;
class QPushButton;

namespace ql::ui {

class AnswerView;
class GroundingView;
class RenderThrottle;

class AnswerWidget : public QFrame {
  Q_OBJECT
 public:
  explicit AnswerWidget(QWidget* parent = nullptr);

  // While generating: the text so far (shown on the throttle's beat).
  void setStreamingText(const QString& text);
  // Done: the final text and its figures (none for answers saved without them).
  void setFinished(const QString& text, const std::optional<AnswerStats>& stats);

  void setRegenerateVisible(bool visible);
  // Draws the answer's grounding boxes and points (core/engine/grounding.h)
  // on `picture` (the last picture of the question) under the text; nothing
  // when the answer holds none or there is no picture.
  void showGrounding(const QImage& picture);
  // The same with the picture read only when the answer holds a shape.
  void showGrounding(const std::function<QImage()>& picture);
  GroundingView* grounding() const { return grounding_; }

  const QString& text() const { return text_; }
  AnswerView* view() const { return view_; }
  QLabel* statsLabel() const { return stats_; }
  QPushButton* copyButton() const { return copy_; }
  QPushButton* regenerateButton() const { return regenerate_; }

 signals:
  void regenerateRequested();

 private:
  void render();

  QString text_;
  AnswerView* view_ = nullptr;
  QLabel* stats_ = nullptr;
  QPushButton* copy_ = nullptr;
  QPushButton* regenerate_ = nullptr;
  RenderThrottle* throttle_ = nullptr;
  GroundingView* grounding_ = nullptr;
};

}  // namespace ql::ui
