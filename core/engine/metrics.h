#pragma once
// Live figures of the current (or last) request, read ~10x/s by the GUI from
// another thread (docs/architecture.md §4, step 5).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "core/backend/backend.h"

namespace ql::engine {

struct Metrics {
  bool generating = false;
  int64_t prompt_tokens = 0;      // the whole prompt, image tokens included
  int64_t prefilled_tokens = 0;   // of those, run now (the rest came from the KV cache)
  int64_t generated_tokens = 0;
  double prefill_fraction = 0;    // how far the prompt's forward has come, 0..1 (1 once it ran)
  double ttft_ms = 0;             // request start -> first token (images, prompt, prefill)
  double last_token_ms = 0;       // latency of the latest token after the first
  double mean_token_ms = 0;       // mean latency of the tokens after the first
  double decode_tokens_per_s = 0; // tokens after the first / time since the first
  size_t backend_bytes = 0;       // Backend::bytes_in_use (owned weights, KV cache, arena)
  size_t weight_bytes = 0;        // the model's weights as loaded (stored bytes in their formats)
  size_t kv_cache_bytes = 0;      // MemoryInfo::kv_cache
  size_t workspace_bytes = 0;     // MemoryInfo::workspace
  std::string device;             // MemoryInfo::device ("NVIDIA H100 80GB HBM3", "CPU (16 threads)")
  size_t device_total_bytes = 0;  // the device's memory (the machine's RAM for the CPU backend)
  size_t device_free_bytes = 0;
  // What the loaded model takes: its weights, KV cache and step workspace.
  size_t memory_bytes() const { return weight_bytes + kv_cache_bytes + workspace_bytes; }
};

// Records one request's timings as it runs; snapshot() may be called from any thread.
class MetricsRecorder {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit MetricsRecorder(Clock clock = {});

  void begin();                                           // the request arrived
  void prompt(int64_t prompt_tokens, int64_t prefilled);  // its size is known
  void prefill(double fraction);                          // the prompt's forward moved on
  void token();                                           // a token was produced
  void memory(const backend::MemoryInfo& info, size_t weight_bytes, size_t backend_bytes);
  void clear_memory();  // nothing loaded
  void end();                                             // done (any reason)
  Metrics snapshot() const;

 private:
  std::chrono::steady_clock::time_point now() const;
  static double ms(std::chrono::steady_clock::duration d);

  Clock clock_;
  mutable std::mutex mutex_;
  Metrics m_;
  std::chrono::steady_clock::time_point start_, first_token_, last_token_;
};

}  // namespace ql::engine
