#include "core/common/small_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ql {
namespace {

std::string open_reason(int e) {
  if (e == ENOENT) return "not found";
  if (e == ELOOP) return "a loop of symbolic links (or too many of them)";
  return std::strerror(e);
}

std::string mb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// An open descriptor of a regular file, or the error naming what is there.
Result<int> open_regular(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return err("{}: cannot open: {}", path, open_reason(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return err("{}: cannot stat: {}", path, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return err("{}: is {}, not a regular file", path, file_kind_name(st.st_mode));
  }
  return fd;
}

}  // namespace

Status check_regular_file(const std::string& path) {
  QL_ASSIGN_OR_RETURN(const int fd, open_regular(path));
  ::close(fd);
  return {};
}

bool something_at(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

const char* file_kind_name(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a folder";
    case S_IFIFO: return "a FIFO (named pipe)";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    default: return "not a regular file";
  }
}

Result<std::string> read_small_file(const std::string& path, uint64_t max_bytes) {
  QL_ASSIGN_OR_RETURN(const int fd, open_regular(path));
  struct stat st {};
  ::fstat(fd, &st);  // it succeeded in open_regular
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    return err("{}: is {}, more than the {} such a file may have", path, mb(size), mb(max_bytes));
  }
  std::string text;
  text.resize(static_cast<size_t>(size));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return err("{}: read error: {}", path, std::strerror(e));
    }
    if (n == 0) break;  // shrank while read: what is there
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  ::close(fd);
  return text;
}

}  // namespace ql
