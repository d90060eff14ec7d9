// The CPU backend's thread pool: every task runs exactly once, nested batches
// stay on their thread, callers on several threads take turns.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/backend/cpu_thread_pool.h"

namespace ql::backend::cpu {
namespace {

TEST(CpuThreadPool, EveryTaskRunsExactlyOnce) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  for (int64_t tasks : {0, 1, 2, 7, 1000}) {
    for (int batch = 0; batch < 20; ++batch) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(tasks));
      pool.run(tasks, [&](int64_t t) { runs[t].fetch_add(1); });
      for (int64_t t = 0; t < tasks; ++t) ASSERT_EQ(runs[t].load(), 1) << "task " << t << " of " << tasks;
    }
  }
}

TEST(CpuThreadPool, ParallelForCoversTheRangeInDisjointChunks) {
  ThreadPool pool(3);
  for (int64_t n : {1, 5, 64, 10007}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    std::atomic<int> chunks{0};
    parallel_for(pool, n, 1e6, [&](int64_t begin, int64_t end) {
      EXPECT_LT(begin, end);
      ++chunks;
      for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i << " of " << n;
    EXPECT_LE(chunks.load(), 4 * pool.size());
    if (n >= 12) {
      EXPECT_GT(chunks.load(), 1) << "costly work is split";
    }
  }
  // Cheap work stays in one chunk on the calling thread.
  int calls = 0;
  parallel_for(pool, 1000, 1.0, [&](int64_t begin, int64_t end) {
    ++calls;
    EXPECT_EQ(begin, 0);
    EXPECT_EQ(end, 1000);
  });
  EXPECT_EQ(calls, 1);
}

TEST(CpuThreadPool, NestedBatchesRunInline) {
  ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.run(4, [&](int64_t) {
    const auto me = std::this_thread::get_id();
    pool.run(3, [&](int64_t) {
      EXPECT_EQ(std::this_thread::get_id(), me);
      ++inner;
    });
  });
  EXPECT_EQ(inner.load(), 12);
}

TEST(CpuThreadPool, SeveralCallersTakeTurns) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c)
    callers.emplace_back([&] {
      for (int batch = 0; batch < 50; ++batch) pool.run(10, [&](int64_t t) { sum += t; });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(sum.load(), 3 * 50 * 45);
}

}  // namespace
}  // namespace ql::backend::cpu
