#include "ui/charts/answer_tracker.h"

namespace ql::ui {

std::optional<double> AnswerTracker::observe(const engine::Metrics& m) {
  // No first token yet (prefilling, or a prompt-only request): nothing to plot.
  if (m.generated_tokens < 1 || m.ttft_ms <= 0) return std::nullopt;
  // Exact comparison on purpose: both sources copy the same recorded double,
  // and two requests never measure the same nanosecond-based time.
  if (seen_ && m.ttft_ms == last_ttft_ms_) return std::nullopt;
  seen_ = true;
  last_ttft_ms_ = m.ttft_ms;
  return m.ttft_ms;
}

}  // namespace ql::ui
