#include "core/engine/metrics.h"

namespace ql::engine {

MetricsRecorder::MetricsRecorder(Clock clock) : clock_(std::move(clock)) {}

std::chrono::steady_clock::time_point MetricsRecorder::now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

double MetricsRecorder::ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

void MetricsRecorder::begin() {
  const auto t = now();
  std::lock_guard lock(mutex_);
  const Metrics previous = m_;
  m_ = Metrics{};
  m_.generating = true;
  // Memory is a property of the engine, not of the request: keep the last reading.
  m_.backend_bytes = previous.backend_bytes;
  m_.weight_bytes = previous.weight_bytes;
  m_.kv_cache_bytes = previous.kv_cache_bytes;
  m_.workspace_bytes = previous.workspace_bytes;
  m_.device = previous.device;
  m_.device_total_bytes = previous.device_total_bytes;
  m_.device_free_bytes = previous.device_free_bytes;
  start_ = t;
}

void MetricsRecorder::prompt(int64_t prompt_tokens, int64_t prefilled) {
  std::lock_guard lock(mutex_);
  m_.prompt_tokens = prompt_tokens;
  m_.prefilled_tokens = prefilled;
}

void MetricsRecorder::prefill(double fraction) {
  std::lock_guard lock(mutex_);
  m_.prefill_fraction = fraction;
}

void MetricsRecorder::token() {
  const auto t = now();
  std::lock_guard lock(mutex_);
  ++m_.generated_tokens;
  if (m_.generated_tokens == 1) {
    first_token_ = t;
    m_.ttft_ms = ms(t - start_);
  } else {
    m_.last_token_ms = ms(t - last_token_);
    const double since_first = ms(t - first_token_);
    const int64_t after_first = m_.generated_tokens - 1;
    m_.mean_token_ms = since_first / static_cast<double>(after_first);
    m_.decode_tokens_per_s = since_first > 0 ? 1000.0 * static_cast<double>(after_first) / since_first : 0.0;
  }
  last_token_ = t;
}

void MetricsRecorder::memory(const backend::MemoryInfo& info, size_t weight_bytes, size_t backend_bytes) {
  std::lock_guard lock(mutex_);
  m_.backend_bytes = backend_bytes;
  m_.weight_bytes = weight_bytes;
  m_.kv_cache_bytes = info.kv_cache;
  m_.workspace_bytes = info.workspace;
  m_.device = info.device;
  m_.device_total_bytes = info.device_total;
  m_.device_free_bytes = info.device_free;
}

void MetricsRecorder::clear_memory() {
  std::lock_guard lock(mutex_);
  m_.backend_bytes = m_.weight_bytes = m_.kv_cache_bytes = m_.workspace_bytes = 0;
  m_.device.clear();
  m_.device_total_bytes = m_.device_free_bytes = 0;
}

void MetricsRecorder::end() {
  std::lock_guard lock(mutex_);
  m_.generating = false;
}

Metrics MetricsRecorder::snapshot() const {
  std::lock_guard lock(mutex_);
  return m_;
}

}  // namespace ql::engine
