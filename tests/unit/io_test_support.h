#pragma once
// Shared by the export tests: running a piece of a test in a forked child
// that cannot write where root could (the tests run as root, so chmod alone
// stops nothing): as uid/gid 65534 ("nobody"), or with a file size limit that
// makes writes fail with EFBIG like a full disk; and a snapshot of a folder
// (names, sizes, mtimes, bytes) to show that an export left it unchanged.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

namespace ql::io::testing {

namespace fs = std::filesystem;

inline constexpr uid_t kNobody = 65534;

struct ChildOutcome {
  bool ran = false;     // the child ran `body` to its end
  std::string message;  // what `body` returned
  std::string failure;  // why the child could not run it (setup failed, crashed)
};

// Runs `body` in a forked child after `setup` (which returns "" or why it
// failed); the child sends body's string back through a pipe.
inline ChildOutcome run_in_child(const std::function<std::string()>& setup, const std::function<std::string()>& body) {
  ChildOutcome out;
  int fds[2];
  if (pipe(fds) != 0) {
    out.failure = "pipe failed";
    return out;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    out.failure = "fork failed";
    return out;
  }
  if (pid == 0) {
    close(fds[0]);
    std::string msg;
    int code = 0;
    if (std::string why = setup(); !why.empty()) {
      msg = why;
      code = 3;
    } else {
      msg = body();
    }
    size_t done = 0;
    while (done < msg.size()) {
      const ssize_t n = write(fds[1], msg.data() + done, msg.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(fds[1]);
    _exit(code);
  }
  close(fds[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) {
    out.failure = "the child did not exit normally (signal " + std::to_string(WTERMSIG(status)) + "): " + got;
  } else if (WEXITSTATUS(status) == 3) {
    out.failure = "setup failed in the child: " + got;
  } else {
    out.ran = true;
    out.message = got;
  }
  return out;
}

// Setup: become uid/gid 65534, which owns nothing here.
inline std::string drop_to_nobody() {
  if (setgroups(0, nullptr) != 0 && errno != EPERM) return "setgroups failed";
  if (setgid(kNobody) != 0) return "setgid(65534) failed";
  if (setuid(kNobody) != 0) return "setuid(65534) failed";
  if (geteuid() != kNobody) return "still not uid 65534";
  return {};
}

// Setup: files may not grow past `bytes`; writes beyond fail with EFBIG
// (SIGXFSZ ignored), as on a full disk.
inline std::function<std::string()> limit_file_size(rlim_t bytes) {
  return [bytes]() -> std::string {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl {
      bytes, bytes
    };
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return "setrlimit(RLIMIT_FSIZE) failed";
    return {};
  };
}

struct FileState {
  uintmax_t size = 0;
  int64_t mtime_ns = 0;
  std::string bytes;  // whole content of regular files
  bool operator==(const FileState&) const = default;
};

// Every entry below `dir` (recursively): size, mtime, content.
inline std::map<std::string, FileState> snapshot(const std::string& dir) {
  std::map<std::string, FileState> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    if (lstat(e.path().c_str(), &st) != 0) continue;
    FileState s;
    s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (S_ISREG(st.st_mode)) {
      s.size = static_cast<uintmax_t>(st.st_size);
      std::ifstream in(e.path(), std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      s.bytes = ss.str();
    }
    out[fs::relative(e.path(), dir).string()] = std::move(s);
  }
  return out;
}

// Makes `path` and its ancestors up to `/` enterable and readable by others
// (mkdtemp folders are 0700), so a child running as nobody can read a source.
inline void open_to_others(const fs::path& path) {
  for (fs::path p = path; !p.empty() && p != p.root_path(); p = p.parent_path()) {
    std::error_code ec;
    fs::permissions(p, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add, ec);
  }
}

}  // namespace ql::io::testing
