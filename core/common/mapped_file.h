#pragma once
// A read-only memory map of a whole file. Checkpoint shards are mapped, never
// copied: weights stream from the page cache as they are quantized or used.
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

 private:
  void reset();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file, e.g. a JSON config. Errors name the path.
Result<std::string> read_text_file(const std::string& path);

}  // namespace ql
