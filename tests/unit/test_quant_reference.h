#pragma once
// Shared by the test_quant_* suites: seeded test data and a plain double-precision
// matrix product, written independently of core/quant.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace ql::quant::testing {

// Weight-like values: normal with the given spread, fixed seed.
inline std::vector<float> normal_values(size_t count, float stddev, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

// y[i, o] = sum_c x[i, c] * w[o, c] in double; x [n, cols], w [rows, cols].
inline std::vector<double> reference_matmul(const std::vector<float>& x, int64_t n, const std::vector<double>& w,
                                            int64_t rows, int64_t cols) {
  std::vector<double> y(static_cast<size_t>(n * rows), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t o = 0; o < rows; ++o) {
      double s = 0.0;
      for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(x[i * cols + c]) * w[o * cols + c];
      y[i * rows + o] = s;
    }
  }
  return y;
}

// sum_c |x[i, c] * w[o, c]|: the scale of the rounding error of an fp32 dot product.
inline std::vector<double> abs_product_sums(const std::vector<float>& x, int64_t n, const std::vector<double>& w,
                                            int64_t rows, int64_t cols) {
  std::vector<double> y(static_cast<size_t>(n * rows), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t o = 0; o < rows; ++o) {
      double s = 0.0;
      for (int64_t c = 0; c < cols; ++c) s += std::fabs(static_cast<double>(x[i * cols + c]) * w[o * cols + c]);
      y[i * rows + o] = s;
    }
  }
  return y;
}

// Worst-case relative rounding of an fp32 sum of `terms` products (each product
// rounds once, each addition once): gamma_{terms+1} = (terms+1) u / (1 - (terms+1) u).
inline double fp32_dot_error_factor(int64_t terms) {
  const double u = std::ldexp(1.0, -24);
  const double k = static_cast<double>(terms + 1);
  return k * u / (1.0 - k * u);
}

}  // namespace ql::quant::testing
