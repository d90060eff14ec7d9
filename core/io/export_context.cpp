#include "core/io/export_context.h"

#include <chrono>

namespace ql::io {
namespace {

// 20 reports a second move a progress bar smoothly; more would only cost the
// GUI queued signals and the CLI terminal writes.
constexpr int64_t kMinReportIntervalNs = 50'000'000;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ExportContext::ExportContext(const ExportProgressFn& progress, const std::atomic<bool>* cancel, uint64_t total_bytes)
    : progress_(progress), cancel_(cancel), total_(total_bytes) {}

Error ExportContext::cancelled_error() { return Error{kExportCancelledMessage, ErrorKind::kInternal}; }

// Between two checks a shard rewritten in place can still end the process;
// 100 ms keeps the window small at a cost of ~10 stat calls per second.
constexpr int64_t kSourceCheckIntervalNs = 100'000'000;

bool ExportContext::cancelled() {
  if (source_changed_) return true;
  if (cancel_ && cancel_->load(std::memory_order_relaxed)) return true;
  if (!source_check_) return false;
  const int64_t t = now_ns();
  if (t - last_source_check_ns_ < kSourceCheckIntervalNs) return false;
  last_source_check_ns_ = t;
  if (Status s = source_check_(); !s.ok()) {
    source_changed_ = s.error();
    return true;
  }
  return false;
}

Error ExportContext::stop_error() const { return source_changed_ ? *source_changed_ : cancelled_error(); }

void ExportContext::report(const std::string& stage, const std::string& tensor, size_t tensor_index,
                           size_t tensor_count) {
  const bool changed = stage != last_.stage || tensor_index != last_.tensor_index || tensor != last_.tensor;
  last_.stage = stage;
  last_.tensor = tensor;
  last_.tensor_index = tensor_index;
  last_.tensor_count = tensor_count;
  emit(changed);
}

void ExportContext::begin_tensor(const std::string& stage, const std::string& tensor) {
  report(stage, tensor, tensors_begun_++, tensor_count_);
}

void ExportContext::add_bytes(uint64_t n) {
  done_ += n;
  emit(false);
}

void ExportContext::emit(bool force) {
  if (!progress_) return;
  const int64_t t = now_ns();
  if (!force && t - last_report_ns_ < kMinReportIntervalNs) return;
  last_report_ns_ = t;
  last_.done_bytes = done_;
  last_.total_bytes = total_;
  progress_(last_);
}

}  // namespace ql::io
