#include "core/io/folder_claim.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <utility>

#include <fmt/format.h>

namespace ql::io {
namespace {

namespace fs = std::filesystem;

// A claim lists at most a few thousand names; anything larger is not ours.
constexpr size_t kMaxClaimBytes = 1 << 20;

bool is_plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

std::string partial_name(const std::string& name) {
  std::string t = ".";  // built piece by piece: GCC 12 warns falsely (-Wrestrict) on "." + string
  t += name;
  t += ".partial";
  return t;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// "quantlens-export 1", then "pid N", "started ...", one "file NAME" per line.
void parse_claim(const std::string& text, FolderClaimInfo& info) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("pid ", 0) == 0) {
      info.pid = std::strtol(line.c_str() + 4, nullptr, 10);
    } else if (line.rfind("started ", 0) == 0) {
      info.started = line.substr(8);
    } else if (line.rfind("file ", 0) == 0) {
      std::string name = line.substr(5);
      if (is_plain_name(name)) info.files.push_back(std::move(name));
    }
  }
}

}  // namespace

Result<std::optional<FolderClaimInfo>> read_folder_claim(const std::string& folder) {
  const std::string path = (fs::path(folder) / kFolderClaimName).string();
  // O_NOFOLLOW | O_NONBLOCK: a link or a FIFO planted under the claim's name
  // is reported below, never followed or waited on.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<FolderClaimInfo>{};
    return err("{}: cannot read the export claim {}: {}", folder, path, std::strerror(errno));
  }
  FolderClaimInfo info;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    // A shared lock fails while the owning export holds its exclusive one.
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
      info.live = (errno == EWOULDBLOCK);
    } else {
      ::flock(fd, LOCK_UN);
    }
    std::string text;
    char buf[4096];
    ssize_t n;
    while (text.size() < kMaxClaimBytes && (n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    parse_claim(text, info);
    // An export writes its claim's lines right after locking it: an empty,
    // unlocked claim is one being taken this instant, not a stale one.
    if (text.empty()) info.live = true;
  }
  ::close(fd);
  std::error_code ec;
  for (const std::string& name : info.files) {
    for (const std::string& candidate : {name, partial_name(name)}) {
      if (fs::exists(fs::symlink_status(fs::path(folder) / candidate, ec))) info.leftovers.push_back(candidate);
    }
  }
  return std::optional<FolderClaimInfo>(std::move(info));
}

Status remove_stale_claim(const std::string& folder, const FolderClaimInfo& info) {
  if (info.live) return err("{}: an export is writing into this folder now; it is not removed", folder);
  std::error_code ec;
  for (const std::string& name : info.leftovers) {
    if (!is_plain_name(name)) continue;
    fs::remove(fs::path(folder) / name, ec);
    if (ec) return err("{}: cannot remove {} left by an interrupted export: {}", folder, name, ec.message());
  }
  fs::remove(fs::path(folder) / kFolderClaimName, ec);
  if (ec) return err("{}: cannot remove the export claim {}: {}", folder, kFolderClaimName, ec.message());
  return {};
}

std::string describe_claim(const std::string& shown_folder, const FolderClaimInfo& info) {
  const std::string who = info.pid > 0 ? fmt::format("process {}", info.pid) : std::string("an unknown process");
  const std::string since = info.started.empty() ? std::string() : fmt::format(", started {}", info.started);
  if (info.live)
    return fmt::format(
        "{}: another export ({}{}) is writing into this folder; wait for it to finish or give another folder",
        shown_folder, who, since);
  std::string left = info.leftovers.empty() ? std::string("nothing else")
                                            : fmt::format("{}", fmt::join(info.leftovers, ", "));
  return fmt::format(
      "{}: an earlier export into this folder ({}{}) was interrupted and left {} (and its claim {}); {} to "
      "remove them, or give another folder",
      shown_folder, who, since, left, kFolderClaimName, "export again with --force (in the app: answer yes when asked)");
}

Result<FolderClaim> FolderClaim::take(const std::string& folder, const std::string& shown_folder,
                                      const std::vector<std::string>& planned_files) {
  FolderClaim c;
  c.path_ = (fs::path(folder) / kFolderClaimName).string();
  c.fd_ = ::open(c.path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (c.fd_ < 0) {
    const int e = errno;
    c.path_.clear();  // not ours: the destructor must not remove it
    if (e == EEXIST) {
      auto info = read_folder_claim(folder);
      if (info.ok() && info->has_value()) return err("{}", describe_claim(shown_folder, **info));
      return err("{}: another export claimed this folder meanwhile; give another folder", shown_folder);
    }
    return err("{}: cannot create the export claim {}: {}", shown_folder, kFolderClaimName, std::strerror(e));
  }
  if (::flock(c.fd_, LOCK_EX | LOCK_NB) != 0)
    return err("{}: cannot lock the export claim {}: {}", shown_folder, kFolderClaimName, std::strerror(errno));
  std::string text = fmt::format("quantlens-export 1\npid {}\nstarted {}\n", static_cast<long>(::getpid()), now_utc());
  for (const std::string& f : planned_files) text += fmt::format("file {}\n", fs::path(f).filename().string());
  if (::write(c.fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return err("{}: cannot write the export claim {}: {}", shown_folder, kFolderClaimName, std::strerror(errno));
  return c;
}

FolderClaim::FolderClaim(FolderClaim&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::exchange(other.path_, {})) {}

FolderClaim& FolderClaim::operator=(FolderClaim&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

FolderClaim::~FolderClaim() { release(); }

void FolderClaim::release() noexcept {
  // Unlink before dropping the lock: no one can see an unlocked claim of a
  // live export.
  if (!path_.empty()) ::unlink(path_.c_str());
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  path_.clear();
}

}  // namespace ql::io
