#include "ui/chat/render_throttle.h"

namespace ql::ui {

RenderThrottle::RenderThrottle(int interval_ms, QObject* parent) : QObject(parent), interval_ms_(interval_ms) {
  timer_.setSingleShot(true);
  connect(&timer_, &QTimer::timeout, this, &RenderThrottle::fire);
}

void RenderThrottle::request() {
  if (timer_.isActive()) return;  // already scheduled: this change rides along
  const qint64 since = since_last_.isValid() ? since_last_.elapsed() : interval_ms_;
  if (since >= interval_ms_) {
    fire();
  } else {
    timer_.start(static_cast<int>(interval_ms_ - since));
  }
}

void RenderThrottle::flush() {
  if (!timer_.isActive()) return;
  timer_.stop();
  fire();
}

void RenderThrottle::fire() {
  since_last_.restart();
  emit due();
}

}  // namespace ql::ui
