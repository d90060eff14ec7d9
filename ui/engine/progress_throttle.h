#pragma once
// Rate limit for progress signals: a load reports progress per tensor
// (thousands per second on small models), far more than a progress bar can
// show; each signal crossing to the UI thread costs an event. At most one
// report per interval gets through (~30 per second by default), and a final
// report can always be forced through.
#include <chrono>

namespace ql::ui {

class ProgressThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ProgressThrottle(Clock::duration interval = std::chrono::milliseconds(33)) : interval_(interval) {}

  // True when a report may go out now (the first one always may); it then
  // counts as sent. `force` lets the report through regardless.
  bool due(bool force = false) {
    const Clock::time_point now = Clock::now();
    if (!force && sent_any_ && now - last_ < interval_) return false;
    sent_any_ = true;
    last_ = now;
    return true;
  }

 private:
  Clock::duration interval_;
  Clock::time_point last_{};
  bool sent_any_ = false;
};

}  // namespace ql::ui
