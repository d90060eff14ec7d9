#pragma once
// Splits [0, n) into contiguous bands, one per thread. Quantizing and
// multiplying are independent per row (or block), so threads share nothing
// but read-only inputs and write disjoint outputs.
#include <algorithm>
#include <cstdint>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

namespace ql::quant {

// `requested` threads, or one per hardware thread when it is 0 or less.
inline int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Calls fn(begin, end) for bands covering [0, n). `work_per_item` (rough
// operations per item) keeps small jobs on the calling thread, where starting
// a thread would cost more than it saves.
template <typename Fn>
void parallel_for(int64_t n, int threads, double work_per_item, Fn&& fn) {
  constexpr double kMinWorkPerThread = 1 << 16;
  if (n <= 0) return;
  const auto by_work = static_cast<int64_t>(static_cast<double>(n) * work_per_item / kMinWorkPerThread);
  const int64_t bands = std::clamp<int64_t>(std::min<int64_t>(by_work, resolve_threads(threads)), 1, n);
  if (bands == 1) {
    fn(int64_t{0}, n);
    return;
  }
  const int64_t band = (n + bands - 1) / bands;
  std::vector<std::thread> pool;
  try {
    pool.reserve(static_cast<size_t>(bands - 1));
  } catch (const std::bad_alloc&) {
    fn(int64_t{0}, n);  // no memory for the thread list: do it all here
    return;
  }
  for (int64_t begin = band; begin < n; begin += band) {
    const int64_t end = std::min(n, begin + band);
    try {
      pool.emplace_back([&fn, begin, end] { fn(begin, end); });
    } catch (const std::system_error&) {
      fn(begin, end);  // no thread to be had: do this band here rather than fail
    }
  }
  fn(int64_t{0}, std::min(n, band));
  for (auto& t : pool) t.join();
}

}  // namespace ql::quant
