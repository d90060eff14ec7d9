#pragma once
// Coalesces "the answer grew, show it" requests: due() fires at once when the
// last one was long enough ago, otherwise once at the end of the interval,
// however many requests came in between. Re-rendering a growing answer's
// Markdown for every token would cost O(n^2) on long answers; at most
// ~20 renders a second keeps streaming smooth and the UI responsive.
#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

namespace ql::ui {

class RenderThrottle : public QObject {
  Q_OBJECT
 public:
  explicit RenderThrottle(int interval_ms = 50, QObject* parent = nullptr);

  void request();
  // Fires now if a request is waiting (the answer is complete).
  void flush();
  bool pending() const { return timer_.isActive(); }

 signals:
  void due();

 private:
  void fire();

  int interval_ms_;
  QTimer timer_;
  QElapsedTimer since_last_;
};

}  // namespace ql::ui
