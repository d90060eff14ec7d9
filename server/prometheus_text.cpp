#include "server/prometheus_text.h"

#include <fmt/format.h>

namespace ql::server {
namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(std::string& out, const char* name, double value, const std::string& labels = {}) {
  out += labels.empty() ? fmt::format("{} {}\n", name, value) : fmt::format("{}{{{}}} {}\n", name, labels, value);
}

}  // namespace

std::string prometheus_text(const engine::SchedulerStats& s, const std::map<int, int64_t>& responses_by_status,
                            const engine::Metrics& m) {
  std::string out;
  family(out, "quantlens_requests_total", "counter", "Chat completion requests by outcome.");
  sample(out, "quantlens_requests_total", static_cast<double>(s.completed), "outcome=\"completed\"");
  sample(out, "quantlens_requests_total", static_cast<double>(s.failed), "outcome=\"failed\"");
  sample(out, "quantlens_requests_total", static_cast<double>(s.cancelled), "outcome=\"cancelled\"");
  sample(out, "quantlens_requests_total", static_cast<double>(s.rejected), "outcome=\"rejected\"");
  family(out, "quantlens_http_responses_total", "counter", "HTTP answers by status code.");
  for (const auto& [status, n] : responses_by_status)
    sample(out, "quantlens_http_responses_total", static_cast<double>(n), fmt::format("code=\"{}\"", status));
  family(out, "quantlens_prompt_tokens_total", "counter", "Prompt tokens of the requests that ran, image tokens included.");
  sample(out, "quantlens_prompt_tokens_total", static_cast<double>(s.prompt_tokens));
  family(out, "quantlens_cached_prompt_tokens_total", "counter", "Of those, tokens taken from the KV cache.");
  sample(out, "quantlens_cached_prompt_tokens_total", static_cast<double>(s.cached_tokens));
  family(out, "quantlens_completion_tokens_total", "counter", "Generated tokens.");
  sample(out, "quantlens_completion_tokens_total", static_cast<double>(s.completion_tokens));
  family(out, "quantlens_queue_length", "gauge", "Requests waiting for a slot.");
  sample(out, "quantlens_queue_length", static_cast<double>(s.queued));
  family(out, "quantlens_batch_running", "gauge", "Requests being decoded now.");
  sample(out, "quantlens_batch_running", static_cast<double>(s.running));
  family(out, "quantlens_batch_capacity", "gauge", "Requests that can be decoded together.");
  sample(out, "quantlens_batch_capacity", static_cast<double>(s.max_batch));
  family(out, "quantlens_batch_occupancy", "gauge", "Running requests over the capacity, 0 to 1.");
  sample(out, "quantlens_batch_occupancy", static_cast<double>(s.running) / static_cast<double>(s.max_batch));
  family(out, "quantlens_tokens_per_second", "gauge", "Generated tokens per second over the last 10 seconds.");
  sample(out, "quantlens_tokens_per_second", s.tokens_per_second);
  family(out, "quantlens_device_memory_bytes", "gauge",
         "Device memory (the machine's RAM on the CPU backend), as of the last request or load.");
  sample(out, "quantlens_device_memory_bytes", static_cast<double>(m.device_total_bytes), "kind=\"total\"");
  sample(out, "quantlens_device_memory_bytes", static_cast<double>(m.device_free_bytes), "kind=\"free\"");
  sample(out, "quantlens_device_memory_bytes", static_cast<double>(m.weight_bytes), "kind=\"weights\"");
  sample(out, "quantlens_device_memory_bytes", static_cast<double>(m.kv_cache_bytes), "kind=\"kv_cache\"");
  sample(out, "quantlens_device_memory_bytes", static_cast<double>(m.workspace_bytes), "kind=\"workspace\"");
  return out;
}

}  // namespace ql::server
