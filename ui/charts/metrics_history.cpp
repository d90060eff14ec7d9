#include "ui/charts/metrics_history.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ql::ui {

void TimedSeries::trim(double oldest_kept_t_s) {
  while (!points_.empty() && points_.front().t_s < oldest_kept_t_s) points_.pop_front();
}

std::array<TimedSeries*, 10> MetricsHistory::allSeries() {
  return {&process_, &machine_used_, &machine_total_, &engine_, &device_used_, &device_total_,
          &latency_, &tokens_per_s_, &batch_occupancy_, &batch_tokens_per_s_};
}

void MetricsHistory::add(const MetricsSample& s) {
  const engine::Metrics& m = s.metrics;
  if (break_pending_) {
    break_pending_ = false;
    for (TimedSeries* series : allSeries()) {
      // Midway between the last point and this one, so the series stays in
      // time order; a series already ending in a break gets no second one.
      if (series->points().empty() || std::isnan(series->points().back().value)) continue;
      series->add((series->points().back().t_s + s.t_s) / 2, std::numeric_limits<double>::quiet_NaN());
    }
  }
  if (s.process_bytes) process_.add(s.t_s, static_cast<double>(*s.process_bytes));
  if (s.machine) {
    machine_used_.add(s.t_s, static_cast<double>(s.machine->used_bytes()));
    machine_total_.add(s.t_s, static_cast<double>(s.machine->total_bytes));
  }
  if (s.device) {
    device_used_.add(s.t_s, static_cast<double>(s.device->used_bytes));
    device_total_.add(s.t_s, static_cast<double>(s.device->total_bytes));
  }
  engine_.add(s.t_s, static_cast<double>(m.memory_bytes()));
  if (s.batch) {
    const double slots = static_cast<double>(std::max<int64_t>(s.batch->capacity, 1));
    batch_occupancy_.add(s.t_s, 100.0 * static_cast<double>(s.batch->running) / slots);
    batch_tokens_per_s_.add(s.t_s, s.batch->tokens_per_s);
  }

  // Latency and speed exist from the second token on; plot a point only when
  // tokens came since the last one, so an idle engine draws no flat tail.
  const bool decoding = m.generated_tokens >= 2;
  const bool new_tokens = m.ttft_ms != last_decode_ttft_ms_ || m.generated_tokens != last_decode_tokens_;
  if (decoding && new_tokens) {
    latency_.add(s.t_s, m.last_token_ms);
    tokens_per_s_.add(s.t_s, m.decode_tokens_per_s);
    last_decode_ttft_ms_ = m.ttft_ms;
    last_decode_tokens_ = m.generated_tokens;
  }
  if (auto ttft = tracker_.observe(m)) addAnswer(*ttft);

  const double oldest = s.t_s - window_s_;
  for (TimedSeries* series : allSeries()) series->trim(oldest);
}

void MetricsHistory::skip(const engine::Metrics& m) {
  tracker_.observe(m);
  last_decode_ttft_ms_ = m.ttft_ms;
  last_decode_tokens_ = m.generated_tokens;
}

void MetricsHistory::addFinishedAnswer(const engine::Metrics& metrics) {
  if (auto ttft = tracker_.observe(metrics)) addAnswer(*ttft);
}

void MetricsHistory::addAnswer(double ttft_ms) {
  answers_.push_back({++answers_seen_, ttft_ms});
  while (answers_.size() > kMaxAnswers) answers_.pop_front();
}

void MetricsHistory::clear() {
  for (TimedSeries* series : allSeries()) series->clear();
  answers_.clear();
}

}  // namespace ql::ui
