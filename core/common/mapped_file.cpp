#include "core/common/mapped_file.h"

#include "core/common/small_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace ql {
namespace {

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace

MappedFile::~MappedFile() { reset(); }

MappedFile::MappedFile(MappedFile&& o) noexcept
    : data_(o.data_),
      size_(o.size_),
      path_(std::move(o.path_)),
      device_(o.device_),
      inode_(o.inode_),
      mtime_ns_(o.mtime_ns_) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    reset();
    data_ = o.data_;
    size_ = o.size_;
    path_ = std::move(o.path_);
    device_ = o.device_;
    inode_ = o.inode_;
    mtime_ns_ = o.mtime_ns_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

void MappedFile::reset() {
  if (data_ && size_) munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

Result<MappedFile> MappedFile::open(const std::string& path) {
  // O_NONBLOCK: a FIFO in a shard's place is refused below, not waited on.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return err("{}: cannot open: {}", path, errno == ELOOP ? "a loop of symbolic links" : std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return err("{}: cannot stat: {}", path, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return err("{}: is {}, not a regular file", path, file_kind_name(st.st_mode));
  }
  MappedFile m;
  m.path_ = path;
  m.size_ = static_cast<size_t>(st.st_size);
  m.device_ = static_cast<uint64_t>(st.st_dev);
  m.inode_ = static_cast<uint64_t>(st.st_ino);
  m.mtime_ns_ = mtime_ns(st);
  if (m.size_ > 0) {
    void* p = mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      m.size_ = 0;
      return err("{}: cannot map: {}", path, std::strerror(e));
    }
    m.data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return m;
}

Status MappedFile::unchanged() const {
  if (path_.empty()) return {};
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0)
    return err("{}: the file was removed or became unreadable while in use ({}); load the model again",
               path_, std::strerror(errno));
  const bool same_file = static_cast<uint64_t>(st.st_dev) == device_ && static_cast<uint64_t>(st.st_ino) == inode_;
  if (same_file && static_cast<size_t>(st.st_size) == size_ && mtime_ns(st) == mtime_ns_) return {};
  std::string what;
  if (!same_file) {
    what = "it was replaced by another file";
  } else if (static_cast<size_t>(st.st_size) != size_) {
    what = fmt::format("its size went from {} to {} bytes", size_, static_cast<uint64_t>(st.st_size));
  } else {
    what = "it was modified";
  }
  return err("{}: changed on disk while in use ({}); load the model again from the finished files", path_, what);
}

Result<std::string> read_text_file(const std::string& path) { return read_small_file(path); }

}  // namespace ql
