#include "core/engine/scheduler.h"

#include <algorithm>

namespace ql::engine {
namespace {
constexpr auto kRateWindow = std::chrono::seconds(10);
}

Scheduler::Scheduler(Engine& engine, Options options) : engine_(engine) {
  const auto info = engine.info();
  stats_.max_batch = info ? info->parallel : 1;
  stats_.max_queued = std::max(options.max_queued, 0);
  worker_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { drain(std::chrono::milliseconds(0)); }

std::variant<TicketPtr, SubmitRefusal> Scheduler::submit(SequenceJob job) {
  std::lock_guard lock(mutex_);
  if (stopping_) {
    ++stats_.rejected;
    return SubmitRefusal{SubmitRefusal::Kind::kStopping, "the server is shutting down"};
  }
  // Jobs beyond the free slots wait; more than max_queued of them are refused.
  const auto waiting = static_cast<int64_t>(queue_.size());
  const int64_t free_slots = std::max<int64_t>(stats_.max_batch - running_, 0);
  if (waiting >= stats_.max_queued + free_slots) {
    ++stats_.rejected;
    return SubmitRefusal{SubmitRefusal::Kind::kQueueFull,
                         fmt::format("{} requests are already waiting (the limit is {}); try again later", waiting,
                                     stats_.max_queued)};
  }
  if (!job.cancel) job.cancel = std::make_shared<std::atomic<bool>>(false);
  auto ticket = std::make_shared<JobTicket>(job.cancel);
  wrap(job);
  queue_.push_back(std::move(job));
  ++stats_.submitted;
  changed_.notify_all();
  return ticket;
}

// The job's callbacks, counting what the statistics need.
void Scheduler::wrap(SequenceJob& job) {
  auto prepared = std::move(job.on_prepared);
  auto token = std::move(job.on_token);
  auto done = std::move(job.on_done);
  const auto flag = job.cancel;
  job.on_prepared = [this, prepared, flag](const Result<PreparedPrompt>& p) {
    if (prepared) prepared(p);
    if (p.ok()) return;
    {
      std::lock_guard lock(mutex_);
      if (flag->load(std::memory_order_relaxed)) ++stats_.cancelled;
      else ++stats_.failed;
    }
    job_ended();
  };
  job.on_token = [this, token](const StreamedToken& t) {
    if (t.id != kFlushTokenId) {
      std::lock_guard lock(mutex_);
      const auto now = std::chrono::steady_clock::now();
      recent_tokens_.push_back(now);
      while (!recent_tokens_.empty() && now - recent_tokens_.front() > kRateWindow) recent_tokens_.pop_front();
      ++stats_.completion_tokens;
    }
    return token ? token(t) : true;
  };
  job.on_done = [this, done, flag](const Result<GenerationResult>& r) {
    {
      std::lock_guard lock(mutex_);
      if (!r.ok()) {
        ++stats_.failed;
      } else {
        stats_.prompt_tokens += static_cast<int64_t>(r->prompt_ids.size());
        stats_.cached_tokens += r->reused_tokens;
        if (flag->load(std::memory_order_relaxed) && r->stop_reason == StopReason::kStopped) ++stats_.cancelled;
        else ++stats_.completed;
      }
    }
    if (done) done(r);
    job_ended();
  };
}

void Scheduler::job_ended() {
  {
    std::lock_guard lock(mutex_);
    --running_;
  }
  changed_.notify_all();
}

std::optional<std::vector<SequenceJob>> Scheduler::next(int free_slots, int running) {
  std::vector<SequenceJob> jobs, dropped;
  {
    std::lock_guard lock(mutex_);
    while (!queue_.empty() && static_cast<int>(jobs.size()) < free_slots) {
      SequenceJob j = std::move(queue_.front());
      queue_.pop_front();
      ++running_;  // until its on_prepared or on_done (job_ended)
      if (j.cancel->load(std::memory_order_relaxed)) {
        dropped.push_back(std::move(j));
        continue;
      }
      stats_.peak_running = std::max(stats_.peak_running, running_);
      running_flags_.push_back(j.cancel);
      jobs.push_back(std::move(j));
    }
    std::erase_if(running_flags_, [](const auto& w) { return w.expired(); });
  }
  // A job cancelled while it waited (a shutdown) hears so; it never ran.
  for (auto& j : dropped)
    if (j.on_prepared) j.on_prepared(err("cancelled before it ran"));
  changed_.notify_all();
  if (jobs.empty() && running == 0) return std::nullopt;  // idle: the engine is free until more comes
  return jobs;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mutex_);
  SchedulerStats s = stats_;
  s.queued = static_cast<int64_t>(queue_.size());
  s.running = running_;
  const auto now = std::chrono::steady_clock::now();
  const auto n = std::count_if(recent_tokens_.begin(), recent_tokens_.end(),
                               [&](auto t) { return now - t <= kRateWindow; });
  s.tokens_per_second = static_cast<double>(n) / std::chrono::duration<double>(kRateWindow).count();
  return s;
}

void Scheduler::drain(std::chrono::milliseconds grace) {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  changed_.wait_for(lock, grace, [&] { return queue_.empty() && running_ == 0; });
  for (auto& j : queue_) j.cancel->store(true, std::memory_order_relaxed);
  for (auto& w : running_flags_)
    if (auto f = w.lock()) f->store(true, std::memory_order_relaxed);
  quit_ = true;
  changed_.notify_all();
  lock.unlock();
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

void Scheduler::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return !queue_.empty() || quit_; });
      if (queue_.empty()) return;
    }
    // Until the queue is empty and every job has ended; cancelled jobs that
    // were queued are dropped by next().
    Status st = engine_.run_sequences(*this);
    if (!st.ok()) {
      // No model (or a failure outside any job): every waiting job hears it.
      std::deque<SequenceJob> failed;
      {
        std::lock_guard lock(mutex_);
        failed.swap(queue_);
        running_ += static_cast<int64_t>(failed.size());  // each ends in its on_prepared
      }
      for (auto& j : failed)
        if (j.on_prepared) j.on_prepared(st.error());
    }
  }
}

}  // namespace ql::engine
