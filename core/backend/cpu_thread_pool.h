#pragma once
// The CPU backend's threads: a fixed pool that runs a batch of tasks with the
// calling thread taking part. OpenBLAS is kept single-threaded (cpu_backend)
// and called from inside tasks, so the two never oversubscribe the cores.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ql::backend::cpu {

class ThreadPool {
 public:
  // `threads` counts the calling thread: 1 = no worker threads.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(task) once for every task in [0, tasks) and returns when all have
  // run. Tasks are claimed one by one, so uneven tasks balance themselves.
  // Called from inside a task (nested), it runs the tasks on that thread.
  void run(int64_t tasks, const std::function<void(int64_t)>& fn);

 private:
  void worker_loop();
  void claim_tasks(const std::function<void(int64_t)>& fn, int64_t tasks);

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one batch at a time when several threads call run()
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  uint64_t generation_ = 0;
  int busy_workers_ = 0;
  bool stop_ = false;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
};

// Splits [0, n) into contiguous chunks and calls fn(begin, end) for each on the
// pool. `cost_per_item` (rough multiply-adds) keeps small jobs on the calling
// thread, where a hand-off would cost more than it saves.
template <typename Fn>
void parallel_for(ThreadPool& pool, int64_t n, double cost_per_item, Fn&& fn) {
  constexpr double kMinTaskCost = 32768;  // ~10 us of arithmetic
  if (n <= 0) return;
  const int64_t max_tasks = std::min<int64_t>(n, 4 * pool.size());  // a few per thread for balance
  const auto by_cost = static_cast<int64_t>(static_cast<double>(n) * cost_per_item / kMinTaskCost);
  int64_t tasks = std::clamp<int64_t>(by_cost, 1, max_tasks);
  if (tasks == 1 || pool.size() == 1) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t chunk = (n + tasks - 1) / tasks;
  tasks = (n + chunk - 1) / chunk;
  pool.run(tasks, [&](int64_t t) { fn(t * chunk, std::min(n, (t + 1) * chunk)); });
}

}  // namespace ql::backend::cpu
