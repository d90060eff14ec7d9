#pragma once
// What the live charts draw, kept apart from the widgets: samples of the
// engine's Metrics and of memory, taken ~10x/s while the engine works, turned
// into time series (memory, per-token latency, tokens/s) and one TTFT per
// answer. Memory stays bounded: points older than the window (default the
// last 10 minutes) and answers beyond the last kMaxAnswers are dropped.
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include "core/engine/metrics.h"
#include "ui/charts/answer_tracker.h"
#include "ui/charts/proc_memory.h"

namespace ql::ui {

// A GPU's memory, for the CUDA backend (NVML or cudaMemGetInfo): the hook the
// memory chart draws when a reader is given (ChartsPanel::setDeviceMemoryReader).
struct DeviceMemory {
  uint64_t used_bytes = 0;
  uint64_t total_bytes = 0;
};

// The local server's batch (server::LocalServer::stats): sequences decoding
// now, the slots there are, and generated tokens/s over all requests.
struct BatchReading {
  int64_t running = 0;
  int64_t capacity = 1;
  double tokens_per_s = 0;
};

struct TimedValue {
  double t_s = 0;  // seconds since the history started
  double value = 0;
};

// Points in time order; trim() drops those older than a cutoff.
class TimedSeries {
 public:
  void add(double t_s, double value) { points_.push_back({t_s, value}); }
  void trim(double oldest_kept_t_s);
  void clear() { points_.clear(); }
  const std::deque<TimedValue>& points() const { return points_; }
  size_t size() const { return points_.size(); }

 private:
  std::deque<TimedValue> points_;
};

// One reading: the engine's figures and whatever memory sources answered.
struct MetricsSample {
  double t_s = 0;
  engine::Metrics metrics;
  std::optional<uint64_t> process_bytes;      // VmRSS
  std::optional<MachineMemory> machine;       // RAM
  std::optional<DeviceMemory> device;         // GPU (none on the CPU backend)
  std::optional<BatchReading> batch;          // while the local server serves
};

struct AnswerTtft {
  int number = 0;  // 1-based, counting since the history started (clear() does not restart it)
  double ttft_ms = 0;
};

class MetricsHistory {
 public:
  static constexpr size_t kMaxAnswers = 500;
  explicit MetricsHistory(double window_s = 600) : window_s_(window_s) {}

  void add(const MetricsSample& sample);
  // No samples were taken from now until the next add() (the engine went
  // idle): the next add() first puts a NaN point in every series, which the
  // charts draw as a break, so no line crosses time that was never measured.
  void breakLines() { break_pending_ = true; }
  // A finished generation's final figures (exact, where sampling may have
  // missed a short answer); an answer already seen is not added twice.
  void addFinishedAnswer(const engine::Metrics& metrics);
  // Takes note of the request these figures belong to without recording
  // anything, so that its answer is not recorded later as a new one: the
  // figures found when the panel opens, and those seen while it is paused.
  void skip(const engine::Metrics& metrics);
  // Empties every series; the answer numbering and the answer already seen
  // carry on, so the last answer does not come back at the next sample.
  void clear();

  // Memory, bytes.
  const TimedSeries& processMemory() const { return process_; }
  const TimedSeries& machineUsed() const { return machine_used_; }
  const TimedSeries& machineTotal() const { return machine_total_; }
  const TimedSeries& engineMemory() const { return engine_; }
  const TimedSeries& deviceUsed() const { return device_used_; }
  const TimedSeries& deviceTotal() const { return device_total_; }
  // Decode figures, one point per sample that saw new tokens.
  const TimedSeries& tokenLatencyMs() const { return latency_; }
  const TimedSeries& tokensPerSecond() const { return tokens_per_s_; }
  const std::deque<AnswerTtft>& answers() const { return answers_; }
  // The local server's batch: occupancy in percent of its slots, and
  // aggregate generated tokens/s.
  const TimedSeries& batchOccupancyPercent() const { return batch_occupancy_; }
  const TimedSeries& batchTokensPerSecond() const { return batch_tokens_per_s_; }

  double windowSeconds() const { return window_s_; }

 private:
  void addAnswer(double ttft_ms);
  // Every time series, for what all of them get: breaks, trimming, clearing.
  std::array<TimedSeries*, 10> allSeries();

  double window_s_;
  bool break_pending_ = false;
  TimedSeries process_, machine_used_, machine_total_, engine_, device_used_, device_total_;
  TimedSeries latency_, tokens_per_s_;
  TimedSeries batch_occupancy_, batch_tokens_per_s_;
  std::deque<AnswerTtft> answers_;
  AnswerTracker tracker_;
  int answers_seen_ = 0;
  // The decode position of the last plotted latency point (request, tokens).
  double last_decode_ttft_ms_ = -1;
  int64_t last_decode_tokens_ = -1;
};

}  // namespace ql::ui
