#pragma once
// Splits a loop over rows across threads. Image passes are row-independent,
// so each thread gets one contiguous band of rows and shares nothing.
#include <algorithm>
#include <cstddef>
#include <system_error>
#include <thread>
#include <vector>

namespace ql::vision {

// Calls fn(begin, end) for bands covering [0, rows). `work_per_row` (rough
// operations per row) keeps small jobs on the calling thread, where thread
// start-up would cost more than it saves.
template <typename Fn>
void parallel_rows(int rows, size_t work_per_row, Fn&& fn) {
  constexpr size_t kMinWorkPerThread = size_t{1} << 20;
  if (rows <= 0) return;
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t by_work =
      std::max<size_t>(1, static_cast<size_t>(rows) * work_per_row / kMinWorkPerThread);
  const int threads = static_cast<int>(std::min({hw, by_work, static_cast<size_t>(rows)}));
  if (threads <= 1) {
    fn(0, rows);
    return;
  }
  const int band = (rows + threads - 1) / threads;
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int begin = band; begin < rows; begin += band) {
    const int end = std::min(rows, begin + band);
    try {
      pool.emplace_back([&fn, begin, end] { fn(begin, end); });
    } catch (const std::system_error&) {
      fn(begin, end);  // no thread to be had: do this band here rather than fail
    }
  }
  fn(0, std::min(rows, band));
  for (auto& t : pool) t.join();
}

}  // namespace ql::vision
