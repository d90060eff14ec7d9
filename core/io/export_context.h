#pragma once
// What every format's writer shares while an export runs: progress, the
// cancellation flag, and the list of written files and tensors.
#include <atomic>
#include <cstdint>
#include <string>

#include "core/io/export.h"

namespace ql::io {

class ExportContext {
 public:
  ExportContext(const ExportProgressFn& progress, const std::atomic<bool>* cancel, uint64_t total_bytes);

  bool cancelled() const { return cancel_ && cancel_->load(std::memory_order_relaxed); }
  // The error a writer returns when cancelled() (message kExportCancelledMessage).
  static Error cancelled_error();

  // Reports progress (rate-limited: at most ~20 calls per second, and always
  // when the stage or tensor index changes).
  void report(const std::string& stage, const std::string& tensor = {}, size_t tensor_index = 0,
              size_t tensor_count = 0);
  void add_bytes(uint64_t n);  // output bytes written (moves the bar)
  uint64_t done_bytes() const { return done_; }
  uint64_t total_bytes() const { return total_; }
  void set_total_bytes(uint64_t total) { total_ = total; }

  // A running tensor count over the whole export (all files), for writers
  // that do not know their place in it (the safetensors writer of one shard):
  // set the count once, then begin_tensor() reports "stage, tensor, i of n".
  void set_tensor_count(size_t count) { tensor_count_ = count; }
  void begin_tensor(const std::string& stage, const std::string& tensor);

 private:
  void emit(bool force);

  ExportProgressFn progress_;  // a copy: the context may outlive the caller's temporary
  const std::atomic<bool>* cancel_;
  uint64_t total_ = 0, done_ = 0;
  size_t tensor_count_ = 0, tensors_begun_ = 0;
  ExportProgress last_;
  int64_t last_report_ns_ = 0;
};

}  // namespace ql::io
