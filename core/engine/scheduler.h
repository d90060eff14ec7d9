#pragma once
// Requests from many clients (the local server, docs/server.md) onto one
// Engine: a queue in arrival order with a limit on how many may wait, and
// for each request its own cancel, streaming callback and completion.
//
// The engine decodes one sequence at a time today, so the scheduler hands it
// one request after another (a batch of 1); Options::max_batch is the slot
// count the batched decoder (issue 13) will fill from the same queue, and
// what stats() reports as the batch's capacity.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "core/engine/engine.h"

namespace ql::engine {

// One request: what to run, and what to call on the scheduler's thread.
struct ScheduledJob {
  GenerationRequest request;
  // Before the prompt runs: the prompt prepared (tokens counted, images
  // preprocessed), or why it cannot run (a bad image, a prompt longer than the
  // context), or that it was cancelled before it ran. An error here ends the
  // job: on_done is not called.
  std::function<void(const Result<PreparedPrompt>& prepared)> on_prepared;
  // Each streamed token; returning false stops the job there (a stop sequence).
  std::function<bool(const StreamedToken&)> on_token;
  // Once, when the generation ended (any stop reason) or failed.
  std::function<void(const Result<GenerationResult>& result)> on_done;
};

// The submitter's handle on a job.
class JobTicket {
 public:
  // The job leaves the queue, or stops at its next token or layer. Any thread.
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
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
};

class Scheduler {
 public:
  struct Options {
    int max_batch = 1;    // sequences decoded together (1-16)
    int max_queued = 64;  // jobs that may wait beyond the running ones
  };
  Scheduler(Engine& engine, Options options);
  ~Scheduler();  // cancels what is queued or running and waits for it
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  std::variant<TicketPtr, SubmitRefusal> submit(ScheduledJob job);
  SchedulerStats stats() const;
  // Stops taking jobs; lets queued and running ones finish for up to
  // `grace`, then cancels the rest and waits for them to end.
  void drain(std::chrono::milliseconds grace);

 private:
  struct Entry {
    ScheduledJob job;
    TicketPtr ticket;
  };
  void run();
  void run_one(Entry& e);
  void count_token();

  Engine& engine_;
  const Options options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Entry> queue_;
  TicketPtr running_;
  bool stopping_ = false;  // no new jobs
  bool quit_ = false;      // the worker ends once the queue is empty
  SchedulerStats stats_;
  std::deque<std::chrono::steady_clock::time_point> recent_tokens_;  // of the last 10 s
  std::thread worker_;
};

}  // namespace ql::engine
