#pragma once
// A file written under a temporary name beside its final path and renamed
// into place only when complete (docs/formats.md §9, issue 6 point 4): a
// cancelled, failed or crashed write never leaves a partial file under the
// final name. The temporary is ".<name>.partial" in the same folder (same file
// system, so the rename is atomic); it is removed when the object is
// destroyed without commit().
#include <cstdint>
#include <string>

#include "core/common/result.h"

namespace ql::io {

class AtomicFile {
 public:
  // Errors name the path and the OS reason (permission, read-only, no space...).
  static Result<AtomicFile> create(const std::string& final_path);

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();  // removes the temporary unless committed

  // Appends bytes; a short write (e.g. ENOSPC) is an error naming the path.
  Status write(const void* data, size_t size);
  Status write_zeros(size_t size);
  uint64_t bytes_written() const { return written_; }

  // Flushes, fsyncs, renames to the final path (and fsyncs the folder).
  Status commit();

  const std::string& final_path() const { return final_path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  AtomicFile() = default;
  void discard() noexcept;

  int fd_ = -1;
  std::string final_path_, temp_path_;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Writes a whole small file (JSON, a copied config) atomically.
Status write_file_atomically(const std::string& final_path, const std::string& contents);

}  // namespace ql::io
