#pragma once
// Finds each answer's time to first token in a stream of Metrics snapshots
// that may come from two places: the 10 Hz sampling (which also sees the
// answers a comparison runs, but may miss a short one between two samples)
// and the controller's generationFinished (exact, chat generations only). The
// engine resets its figures when a request begins, so a first-token time
// different from the last one seen is a new answer; the same answer reported
// by both sources is counted once.
#include <optional>

#include "core/engine/metrics.h"

namespace ql::ui {

class AnswerTracker {
 public:
  // The TTFT (ms) of the answer this snapshot reveals for the first time, if any.
  std::optional<double> observe(const engine::Metrics& m);

 private:
  bool seen_ = false;
  double last_ttft_ms_ = 0;
};

}  // namespace ql::ui
