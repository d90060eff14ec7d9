#pragma once
// Relative RMS error of approximations of a tensor, accumulated slice by
// slice: sqrt(sum (q - x)^2 / sum x^2), in double.
#include <cstdint>

namespace ql::io::gguf {

class ErrorSums {
 public:
  // `threads` share the values; partial sums are merged (in double).
  void add(const float* reference, const float* approx, int64_t n, int threads = 1);
  // 0 when the reference is all zero and matched exactly.
  double rel_rmse() const;

 private:
  double diff2_ = 0, ref2_ = 0;
};

}  // namespace ql::io::gguf
