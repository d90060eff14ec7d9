#include "core/backend/cpu_thread_pool.h"

namespace ql::backend::cpu {

namespace {
// Set while a thread runs a task, so that a nested run() stays on it.
thread_local bool t_in_task = false;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < std::max(1, threads); ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::claim_tasks(const std::function<void(int64_t)>& fn, int64_t tasks) {
  t_in_task = true;
  for (int64_t t = next_task_.fetch_add(1); t < tasks; t = next_task_.fetch_add(1)) fn(t);
  t_in_task = false;
}

void ThreadPool::run(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  if (tasks == 1 || workers_.empty() || t_in_task) {
    for (int64_t t = 0; t < tasks; ++t) fn(t);
    return;
  }
  std::lock_guard<std::mutex> one_batch(run_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = &fn;
    tasks_ = tasks;
    next_task_ = 0;
    busy_workers_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  claim_tasks(fn, tasks);
  // Every worker must be done with `fn` (it lives on our caller's stack).
  std::unique_lock<std::mutex> lock(mutex_);
  finished_.wait(lock, [this] { return busy_workers_ == 0; });
  fn_ = nullptr;
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t)>* fn = nullptr;
    int64_t tasks = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
      tasks = tasks_;
    }
    claim_tasks(*fn, tasks);
    std::lock_guard<std::mutex> lock(mutex_);
    if (--busy_workers_ == 0) finished_.notify_one();
  }
}

}  // namespace ql::backend::cpu
