// `quantlens-cli export` stopped from outside (issue 12, point 4): SIGTERM
// (timeout, a service manager) and SIGHUP (the terminal closed) cancel it as
// Ctrl+C does, leaving no file and no folder it created; a SIGKILL, which
// nothing can catch, leaves the claim and its partial files, which the next
// export into that folder names and removes only with --force.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/cli_runner.h"
#include "tests/unit/engine_test_support.h"

namespace {

using ql::engine::testing::demo_model_dir;
using ql::engine::testing::ScratchDir;
namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The CLI with stderr on a pipe, so the test sees the progress line before signalling.
class CliProcess {
 public:
  explicit CliProcess(const std::vector<std::string>& args) {
    int err[2];
    if (pipe(err) != 0) std::abort();
    pid_ = fork();
    if (pid_ == 0) {
      dup2(err[1], STDERR_FILENO);
      close(err[0]);
      std::vector<char*> argv{const_cast<char*>(QL_CLI_PATH)};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(QL_CLI_PATH, argv.data());
      _exit(127);
    }
    close(err[1]);
    from_child_ = err[0];
  }
  ~CliProcess() {
    close(from_child_);
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  // Reads stderr until `text` appeared (true) or the timeout passed.
  bool wait_for_text(const std::string& text, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!contains(err_, text) && std::chrono::steady_clock::now() < deadline) read_some(50);
    return contains(err_, text);
  }
  void signal(int sig) { kill(pid_, sig); }
  // The exit code (128 + signal when killed), or nullopt after the timeout.
  std::optional<int> wait(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        while (read_some(0)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      read_some(10);
    }
    return std::nullopt;
  }
  const std::string& err() const { return err_; }

 private:
  bool read_some(int timeout_ms) {
    pollfd p{from_child_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    const ssize_t k = read(from_child_, buf, sizeof buf);
    if (k <= 0) return false;
    err_.append(buf, static_cast<size_t>(k));
    return true;
  }

  pid_t pid_ = -1;
  int from_child_ = -1;
  bool exited_ = false;
  std::string err_;
};

// A slow export of the demo model (one thread, K-quants), so a signal lands mid-write.
std::vector<std::string> slow_export(const std::string& out) {
  return {"export", "--model", demo_model_dir(), "--format", "gguf", "--precision", "q4_k_m", "--threads", "1",
          "--out", out};
}

bool holds_partial(const std::string& folder) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec))
    if (e.path().extension() == ".partial") return true;
  return false;
}

TEST(ExportCliSignals, SigtermAndSighupCancelLikeCtrlCAndLeaveNothing) {
  for (int sig : {SIGTERM, SIGHUP, SIGINT}) {
    SCOPED_TRACE(strsignal(sig));
    ScratchDir scratch;
    const std::string out = scratch.file("made/by/export");
    CliProcess cli(slow_export(out));
    ASSERT_TRUE(cli.wait_for_text("(tensor ", 60000)) << "the export never began writing: " << cli.err();
    cli.signal(sig);
    const auto code = cli.wait(60000);
    ASSERT_TRUE(code.has_value()) << "the export did not end after the signal";
    EXPECT_EQ(*code, 1) << cli.err();
    EXPECT_TRUE(contains(cli.err(), "export cancelled by")) << cli.err();
    EXPECT_FALSE(fs::exists(scratch.file("made"))) << "the folders it created were left";
  }
}

TEST(ExportCliSignals, AKilledExportsLeftoversAreNamedAndRemovedOnlyWithForce) {
  ScratchDir scratch;
  const std::string out = scratch.file("out");
  {
    CliProcess cli(slow_export(out));
    ASSERT_TRUE(cli.wait_for_text("(tensor ", 60000)) << cli.err();
    cli.signal(SIGKILL);
    ASSERT_TRUE(cli.wait(10000).has_value());
  }
  ASSERT_TRUE(holds_partial(out)) << "the killed export left no partial file; the test proves nothing";

  const auto refused = ql::testing::run_cli(slow_export(out));
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_TRUE(contains(refused.err, "interrupted")) << refused.err;
  EXPECT_TRUE(contains(refused.err, ".partial")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "--force")) << refused.err;
  EXPECT_TRUE(holds_partial(out)) << "removed without --force";

  std::vector<std::string> forced = slow_export(out);
  forced.push_back("--force");
  const auto r = ql::testing::run_cli(forced);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(holds_partial(out));
  bool wrote_gguf = false;
  for (const auto& e : fs::directory_iterator(out)) wrote_gguf |= e.path().extension() == ".gguf";
  EXPECT_TRUE(wrote_gguf) << "the forced export wrote no model";
}

}  // namespace
