#include "core/io/gguf/tensor_error.h"

#include <cmath>
#include <limits>
#include <mutex>

#include "core/quant/parallel_for.h"

namespace ql::io::gguf {

void ErrorSums::add(const float* reference, const float* approx, int64_t n, int threads) {
  std::mutex mutex;
  quant::parallel_for(n, threads, 4.0, [&](int64_t begin, int64_t end) {
    double diff2 = 0, ref2 = 0;
    for (int64_t i = begin; i < end; ++i) {
      const double x = reference[i], d = static_cast<double>(approx[i]) - x;
      diff2 += d * d;
      ref2 += x * x;
    }
    std::lock_guard<std::mutex> lock(mutex);
    diff2_ += diff2;
    ref2_ += ref2;
  });
}

double ErrorSums::rel_rmse() const {
  if (ref2_ == 0) return diff2_ == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff2_ / ref2_);
}

}  // namespace ql::io::gguf
