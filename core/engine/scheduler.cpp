#include "core/engine/scheduler.h"

#include <algorithm>

namespace ql::engine {
namespace {
constexpr auto kRateWindow = std::chrono::seconds(10);
}

Scheduler::Scheduler(Engine& engine, Options options) : engine_(engine), options_(options) {
  stats_.max_batch = std::clamp(options.max_batch, 1, 16);
  stats_.max_queued = std::max(options.max_queued, 0);
  worker_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { drain(std::chrono::milliseconds(0)); }

std::variant<TicketPtr, SubmitRefusal> Scheduler::submit(ScheduledJob job) {
  std::lock_guard lock(mutex_);
  if (stopping_) {
    ++stats_.rejected;
    return SubmitRefusal{SubmitRefusal::Kind::kStopping, "the server is shutting down"};
  }
  // Jobs beyond the running batch wait; more than max_queued of them are refused.
  const int64_t waiting = static_cast<int64_t>(queue_.size());
  const int64_t free_slots = stats_.max_batch - (running_ ? 1 : 0);
  if (waiting >= stats_.max_queued + std::max<int64_t>(free_slots, 0)) {
    ++stats_.rejected;
    return SubmitRefusal{SubmitRefusal::Kind::kQueueFull,
                         fmt::format("{} requests are already waiting (the limit is {}); try again later", waiting,
                                     stats_.max_queued)};
  }
  auto ticket = std::make_shared<JobTicket>();
  queue_.push_back(Entry{std::move(job), ticket});
  ++stats_.submitted;
  changed_.notify_all();
  return ticket;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mutex_);
  SchedulerStats s = stats_;
  s.queued = static_cast<int64_t>(queue_.size());
  s.running = running_ ? 1 : 0;
  const auto now = std::chrono::steady_clock::now();
  const auto n = std::count_if(recent_tokens_.begin(), recent_tokens_.end(),
                               [&](auto t) { return now - t <= kRateWindow; });
  s.tokens_per_second = static_cast<double>(n) / std::chrono::duration<double>(kRateWindow).count();
  return s;
}

void Scheduler::drain(std::chrono::milliseconds grace) {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  changed_.wait_for(lock, grace, [&] { return queue_.empty() && !running_; });
  for (auto& e : queue_) e.ticket->cancel();
  if (running_) running_->cancel();
  quit_ = true;
  changed_.notify_all();
  lock.unlock();
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

void Scheduler::count_token() {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  recent_tokens_.push_back(now);
  while (!recent_tokens_.empty() && now - recent_tokens_.front() > kRateWindow) recent_tokens_.pop_front();
  ++stats_.completion_tokens;
}

void Scheduler::run() {
  for (;;) {
    Entry e;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return !queue_.empty() || quit_; });
      if (queue_.empty()) return;
      e = std::move(queue_.front());
      queue_.pop_front();
      running_ = e.ticket;
    }
    run_one(e);
    {
      std::lock_guard lock(mutex_);
      running_.reset();
    }
    changed_.notify_all();
  }
}

void Scheduler::run_one(Entry& e) {
  auto count = [&](int64_t SchedulerStats::*field) {
    std::lock_guard lock(mutex_);
    ++(stats_.*field);
  };
  if (e.ticket->cancelled()) {
    if (e.job.on_prepared) e.job.on_prepared(err("cancelled before it ran"));
    return count(&SchedulerStats::cancelled);
  }
  auto prepared = engine_.prepare(e.job.request.prompt);
  if (e.job.on_prepared) e.job.on_prepared(prepared);
  if (!prepared.ok()) return count(&SchedulerStats::failed);

  // The request's cancel reaches the engine from inside its generation (the
  // callbacks run on this thread, between layers and after each token), so a
  // stop can never land on the job after this one.
  GenerationRequest request = e.job.request;
  const TicketPtr ticket = e.ticket;
  auto user_progress = request.on_prefill_progress;
  request.on_prefill_progress = [this, ticket, user_progress](double f) {
    if (ticket->cancelled()) engine_.stop();
    if (user_progress) user_progress(f);
  };
  const auto& user_token = e.job.on_token;
  auto result = engine_.generate(request, [&](const StreamedToken& t) {
    if (t.id != kFlushTokenId) count_token();
    if (user_token && !user_token(t)) ticket->cancel();
    if (ticket->cancelled()) engine_.stop();
  });
  {
    std::lock_guard lock(mutex_);
    if (result.ok()) {
      stats_.prompt_tokens += static_cast<int64_t>(result->prompt_ids.size());
      stats_.cached_tokens += result->reused_tokens;
      if (ticket->cancelled()) ++stats_.cancelled;
      else ++stats_.completed;
    } else {
      ++stats_.failed;
    }
  }
  if (e.job.on_done) e.job.on_done(result);
}

}  // namespace ql::engine
