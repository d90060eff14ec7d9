#include "core/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace ql::io {
namespace {

namespace fs = std::filesystem;

std::string os_reason(int e) { return std::strerror(e); }

// Creation failures (no permission, read-only file system, missing folder)
// are the destination the user chose: bad input. Failures while writing
// (disk full, file too large, I/O error) are failures of the run.
Error open_error(const std::string& final_path, const std::string& temp_path, int e) {
  return err("{}: cannot create the file (temporary {}): {}", final_path, temp_path, os_reason(e));
}

Status fsync_folder(const std::string& folder) {
  const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return internal_err("{}: cannot open the folder to sync it: {}", folder, os_reason(errno));
  const int rc = ::fsync(dfd);
  const int e = errno;
  ::close(dfd);
  // Some file systems do not support fsync on folders; the rename itself is done.
  if (rc != 0 && e != EINVAL && e != ENOTSUP)
    return internal_err("{}: cannot sync the folder: {}", folder, os_reason(e));
  return {};
}

}  // namespace

Result<AtomicFile> AtomicFile::create(const std::string& final_path) {
  const fs::path p(final_path);
  const std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..") return err("{}: not a file name", final_path);
  const fs::path folder = p.has_parent_path() ? p.parent_path() : fs::path(".");
  AtomicFile f;
  f.final_path_ = final_path;
  f.temp_path_ = (folder / ("." + name + ".partial")).string();
  // O_EXCL: never write through a leftover temporary (or a link an attacker placed there).
  f.fd_ = ::open(f.temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (f.fd_ < 0) {
    const int e = errno;
    f.temp_path_.clear();  // not ours: the destructor must not remove it
    return open_error(final_path, (folder / ("." + name + ".partial")).string(), e);
  }
  return f;
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      final_path_(std::move(other.final_path_)),
      temp_path_(std::exchange(other.temp_path_, {})),
      written_(other.written_),
      committed_(other.committed_) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    discard();
    fd_ = std::exchange(other.fd_, -1);
    final_path_ = std::move(other.final_path_);
    temp_path_ = std::exchange(other.temp_path_, {});
    written_ = other.written_;
    committed_ = other.committed_;
  }
  return *this;
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
  temp_path_.clear();
}

Status AtomicFile::write(const void* data, size_t size) {
  if (fd_ < 0) return internal_err("{}: write after the file was closed", final_path_);
  const auto* p = static_cast<const unsigned char*>(data);
  while (size > 0) {
    // Linux writes at most ~2 GiB per call; larger pieces loop.
    const size_t piece = std::min<size_t>(size, size_t{1} << 30);
    const ssize_t n = ::write(fd_, p, piece);
    if (n < 0) {
      if (errno == EINTR) continue;
      return internal_err("{}: write failed after {} bytes (temporary {}): {}", final_path_, written_, temp_path_,
                          os_reason(errno));
    }
    if (n == 0) return internal_err("{}: write made no progress after {} bytes", final_path_, written_);
    p += n;
    size -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
  return {};
}

Status AtomicFile::write_zeros(size_t size) {
  static const unsigned char zeros[64 * 1024] = {};
  while (size > 0) {
    const size_t piece = std::min(size, sizeof zeros);
    QL_TRY(write(zeros, piece));
    size -= piece;
  }
  return {};
}

Status AtomicFile::commit() {
  if (committed_) return {};
  if (fd_ < 0) return internal_err("{}: commit after the file was closed", final_path_);
  // The data must be on disk before the name points at it, or a crash could
  // leave a complete-looking name over missing blocks.
  if (::fsync(fd_) != 0)
    return internal_err("{}: cannot flush to disk (temporary {}): {}", final_path_, temp_path_, os_reason(errno));
  const int rc = ::close(std::exchange(fd_, -1));
  if (rc != 0) return internal_err("{}: closing failed (temporary {}): {}", final_path_, temp_path_, os_reason(errno));
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0)
    return internal_err("{}: cannot rename the temporary {} into place: {}", final_path_, temp_path_, os_reason(errno));
  committed_ = true;
  const fs::path folder = fs::path(final_path_).has_parent_path() ? fs::path(final_path_).parent_path() : ".";
  if (Status st = fsync_folder(folder.string()); !st) {
    ::unlink(final_path_.c_str());  // not durable: take it back rather than report a file that may vanish
    return st;
  }
  return {};
}

Status write_file_atomically(const std::string& final_path, const std::string& contents) {
  QL_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(final_path));
  QL_TRY(f.write(contents.data(), contents.size()));
  return f.commit();
}

}  // namespace ql::io
