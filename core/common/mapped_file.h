#pragma once
// A read-only memory map of a whole file. Checkpoint shards are mapped, never
// copied: weights stream from the page cache as they are quantized or used.
//
// A mapped file that another program truncates or rewrites in place ends the
// process with SIGBUS on the next read of a lost page (any mmap reader has
// this; llama.cpp too). Nothing can catch that safely, so the file's identity
// (device, inode, size, modification time) is kept at open, and long readers
// (an export) call unchanged() as they go and stop with a clear error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/common/result.h"

namespace ql {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  static Result<MappedFile> open(const std::string& path);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // An error naming the file when what is at its path now is not what was
  // mapped: replaced, resized or modified since open().
  Status unchanged() const;

 private:
  void reset();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
  uint64_t device_ = 0, inode_ = 0;
  int64_t mtime_ns_ = 0;
};

// Reads a whole small file, e.g. a JSON config: only a regular file, at most
// kMaxSmallFileBytes (core/common/small_file.h). Errors name the path.
Result<std::string> read_text_file(const std::string& path);

}  // namespace ql
