#pragma once
// How far a long forward (a prefill with large images or a long prompt) has
// come, in units the model counts itself: one per vision block per call of
// the tower, one per decoder layer per prefill chunk. A 5000 x 5000 picture
// with a 32k context takes over a minute on the CPU backend; the user must
// see it move (issue 12, point 8). On a GPU the units are counted as the work
// is queued, which runs ahead of the device by at most a few layers.
#include <cstdint>
#include <functional>

namespace ql::model {

// fraction in [0, 1]; called on the thread running the forward.
using PrefillProgressFn = std::function<void(double fraction)>;

class StepProgress {
 public:
  StepProgress(const PrefillProgressFn& report, int64_t total) : report_(report), total_(total) {}
  void advance() {
    ++done_;
    if (report_ && total_ > 0) report_(static_cast<double>(done_) / static_cast<double>(total_));
  }

 private:
  const PrefillProgressFn& report_;
  int64_t done_ = 0;
  int64_t total_ = 0;
};

}  // namespace ql::model
