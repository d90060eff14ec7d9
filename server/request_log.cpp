#include "server/request_log.h"

namespace ql::server {

const char* request_state_name(RequestState s) {
  switch (s) {
    case RequestState::kQueued: return "queued";
    case RequestState::kRunning: return "running";
    case RequestState::kDone: return "done";
    case RequestState::kFailed: return "failed";
    case RequestState::kCancelled: return "cancelled";
  }
  return "?";
}

uint64_t RequestLog::add(std::string client, bool stream) {
  std::lock_guard lock(mutex_);
  RequestRecord r;
  r.id = next_id_++;
  r.client = std::move(client);
  r.stream = stream;
  r.arrived = std::chrono::steady_clock::now();
  records_.push_back(std::move(r));
  while (records_.size() > kKept) records_.pop_front();
  return records_.back().id;
}

RequestRecord* RequestLog::find(uint64_t id) {
  for (auto it = records_.rbegin(); it != records_.rend(); ++it)
    if (it->id == id) return &*it;
  return nullptr;
}

void RequestLog::running(uint64_t id, int64_t prompt_tokens) {
  std::lock_guard lock(mutex_);
  if (auto* r = find(id)) {
    r->state = RequestState::kRunning;
    r->prompt_tokens = prompt_tokens;
  }
}

void RequestLog::token(uint64_t id) {
  std::lock_guard lock(mutex_);
  if (auto* r = find(id)) ++r->completion_tokens;
}

void RequestLog::end(uint64_t id, RequestState state, std::string finish, int64_t completion_tokens) {
  std::lock_guard lock(mutex_);
  if (auto* r = find(id)) {
    r->state = state;
    r->finish = std::move(finish);
    if (completion_tokens >= 0) r->completion_tokens = completion_tokens;
    r->ended = std::chrono::steady_clock::now();
  }
}

std::vector<RequestRecord> RequestLog::snapshot() const {
  std::lock_guard lock(mutex_);
  return {records_.begin(), records_.end()};
}

}  // namespace ql::server
