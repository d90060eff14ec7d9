#pragma once
// Requests from many clients (the local server, docs/server.md) onto one
// Engine: a queue in arrival order with a limit on how many may wait, and
// for each request its own cancel, streaming callback and completion. The
// scheduler's thread runs Engine::run_sequences while there is work, handing
// queued jobs to free sequence slots between decode steps (continuous
// batching: a request that arrives while others run joins at the next step),
// up to the model's LoadOptions::parallel at once.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "core/engine/engine.h"
#include "core/engine/sequence_feed.h"

namespace ql::engine {

// The submitter's handle on a job.
class JobTicket {
 public:
  explicit JobTicket(std::shared_ptr<std::atomic<bool>> flag) : flag_(std::move(flag)) {}
  // The job leaves the queue, or stops at its next token or layer. Any thread.
  void cancel() { flag_->store(true, std::memory_order_relaxed); }
  bool cancelled() const { return flag_->load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};
using TicketPtr = std::shared_ptr<JobTicket>;

// Why a job was not queued: the queue is full (HTTP 429), or the scheduler
// is draining (503).
struct SubmitRefusal {
  enum class Kind { kQueueFull, kStopping } kind = Kind::kQueueFull;
  std::string message;
};

struct SchedulerStats {
  int64_t max_batch = 1;
  int64_t max_queued = 0;
  int64_t queued = 0;
  int64_t running = 0;
  int64_t submitted = 0;
  int64_t completed = 0;  // ran to an end (eos, a limit, a stop sequence)
  int64_t failed = 0;     // refused when prepared, or failed while running
  int64_t cancelled = 0;  // cancelled before or while running
  int64_t rejected = 0;   // refused at submit
  int64_t prompt_tokens = 0;      // of every job that ran, image tokens included
  int64_t cached_tokens = 0;      // of those, taken from the KV cache
  int64_t completion_tokens = 0;  // generated
  double tokens_per_second = 0;   // generated tokens per second over the last 10 s
  int64_t peak_running = 0;       // the most jobs decoded together so far
};

class Scheduler final : private SequenceFeed {
 public:
  struct Options {
    int max_queued = 64;  // jobs that may wait beyond the free slots
  };
  // The batch is the loaded model's parallel (ModelInfo::parallel).
  Scheduler(Engine& engine, Options options);
  ~Scheduler() override;  // cancels what is queued or running and waits for it
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  std::variant<TicketPtr, SubmitRefusal> submit(SequenceJob job);
  SchedulerStats stats() const;
  // Stops taking jobs; lets queued and running ones finish for up to
  // `grace`, then cancels the rest and waits for them to end.
  void drain(std::chrono::milliseconds grace);

 private:
  std::optional<std::vector<SequenceJob>> next(int free_slots, int running) override;
  void run();
  void wrap(SequenceJob& job);
  void job_ended();

  Engine& engine_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<SequenceJob> queue_;
  std::vector<std::weak_ptr<std::atomic<bool>>> running_flags_;  // of the jobs handed to the engine
  int64_t running_ = 0;
  bool stopping_ = false;  // no new jobs
  bool quit_ = false;      // the worker ends once the queue is empty
  SchedulerStats stats_;
  std::deque<std::chrono::steady_clock::time_point> recent_tokens_;  // of the last 10 s
  std::thread worker_;
};

}  // namespace ql::engine
