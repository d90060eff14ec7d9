#pragma once
// What every format's writer shares while an export runs: progress, the
// cancellation flag, and the list of written files and tensors.
#include <atomic>
#include <functional>
#include <optional>
#include <cstdint>
#include <string>

#include "core/io/export.h"

namespace ql::io {

class ExportContext {
 public:
  ExportContext(const ExportProgressFn& progress, const std::atomic<bool>* cancel, uint64_t total_bytes);

  // True when the export must stop: the user cancelled, or the watched
  // source changed on disk (checked at most every 100 ms: one stat per shard).
  bool cancelled();
  // The error a writer returns when cancelled(): the source's change, else
  // the cancel (message kExportCancelledMessage).
  Error stop_error() const;
  static Error cancelled_error();
  // A check of the source files, polled by cancelled() (mapped_file.h: a
  // shard rewritten while mapped would end the process on the next read).
  void watch_source(std::function<Status()> check) { source_check_ = std::move(check); }

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
  std::function<Status()> source_check_;
  std::optional<Error> source_changed_;
  int64_t last_source_check_ns_ = 0;
  uint64_t total_ = 0, done_ = 0;
  size_t tensor_count_ = 0, tensors_begun_ = 0;
  ExportProgress last_;
  int64_t last_report_ns_ = 0;
};

}  // namespace ql::io
