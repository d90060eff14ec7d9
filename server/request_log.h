#pragma once
// The server's recent requests, for the app's "Local server" panel: each
// request as it is queued, runs and ends, with its token counts. Thread-safe
// (the HTTP threads and the scheduler's write, the UI reads); it keeps the
// last kKept.
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace ql::server {

enum class RequestState { kQueued, kRunning, kDone, kFailed, kCancelled };
const char* request_state_name(RequestState s);

struct RequestRecord {
  uint64_t id = 0;
  std::string client;  // remote address
  bool stream = false;
  RequestState state = RequestState::kQueued;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string finish;  // finish_reason, or the error
  std::chrono::steady_clock::time_point arrived, ended;
};

class RequestLog {
 public:
  static constexpr size_t kKept = 200;
  uint64_t add(std::string client, bool stream);
  void running(uint64_t id, int64_t prompt_tokens);
  void token(uint64_t id);
  void end(uint64_t id, RequestState state, std::string finish, int64_t completion_tokens = -1);
  std::vector<RequestRecord> snapshot() const;

 private:
  RequestRecord* find(uint64_t id);
  mutable std::mutex mutex_;
  std::deque<RequestRecord> records_;
  uint64_t next_id_ = 1;
};

}  // namespace ql::server
