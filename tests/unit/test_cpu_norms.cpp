// rms_norm (docs/model.md §9.1; whole row and per head) and layer_norm (§6.4)
// against hand values and a double reference.
#include "tests/unit/test_cpu_helpers.h"

namespace ql::backend::test {
namespace {

std::vector<double> reference_rms(const std::vector<float>& x, const std::vector<float>& w, int64_t group, double eps) {
  std::vector<double> y(x.size());
  for (size_t g0 = 0; g0 < x.size(); g0 += group) {
    double ss = 0;
    for (int64_t i = 0; i < group; ++i) ss += static_cast<double>(x[g0 + i]) * x[g0 + i];
    const double inv = 1.0 / std::sqrt(ss / group + eps);
    for (int64_t i = 0; i < group; ++i) y[g0 + i] = w[i] * x[g0 + i] * inv;
  }
  return y;
}

std::vector<double> reference_layer_norm(const std::vector<float>& x, const std::vector<float>& w,
                                         const std::vector<float>& b, int64_t cols, double eps) {
  std::vector<double> y(x.size());
  for (size_t r0 = 0; r0 < x.size(); r0 += cols) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < cols; ++i) mean += x[r0 + i];
    mean /= cols;
    for (int64_t i = 0; i < cols; ++i) var += (x[r0 + i] - mean) * (x[r0 + i] - mean);
    var /= cols;
    for (int64_t i = 0; i < cols; ++i) y[r0 + i] = (x[r0 + i] - mean) / std::sqrt(var + eps) * w[i] + b[i];
  }
  return y;
}

TEST(CpuNorms, RmsNormOfThreeFourByHand) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  // mean of squares = (9 + 16) / 2 = 12.5; 1 / sqrt(12.5) = 0.28284271...
  auto x = tensor_from(*be, 1, 2, {3.0f, 4.0f});
  auto out = poisoned(*be, 1, 2);
  be->rms_norm(*x, *hw.upload({1.0f, 1.0f}, 1, 2), 0.0f, 2, *out);
  expect_close(read_all(*be, *out), {0.848528137423857, 1.131370849898476}, 1e-6);
  be->rms_norm(*x, *hw.upload({2.0f, 0.5f}, 1, 2, WeightFormat::kBF16), 0.0f, 2, *out);
  expect_close(read_all(*be, *out), {1.697056274847714, 0.565685424949238}, 1e-6);
  // eps joins the mean: 1 / sqrt(12.5 + 3.5) = 0.25.
  be->rms_norm(*x, *hw.upload({1.0f, 1.0f}, 1, 2), 3.5f, 2, *out);
  expect_close(read_all(*be, *out), {0.75, 1.0}, 1e-6);
}

TEST(CpuNorms, RmsNormWholeRows) {
  auto be = make_cpu_backend(3);
  HostWeights hw(*be);
  const int64_t rows = 37, cols = 96;
  const auto x_values = random_values(rows * cols, 1, -3.0f, 3.0f);
  const auto w_values = exact_values(cols, 2);
  auto x = tensor_from(*be, rows, cols, x_values);
  auto out = poisoned(*be, rows, cols);
  be->rms_norm(*x, *hw.upload(w_values, 1, cols, WeightFormat::kF16), 1e-6f, cols, *out);
  expect_close(read_all(*be, *out), reference_rms(x_values, w_values, cols, 1e-6), 1e-5);
}

// q/k norm: every head of width 8 on its own, done in place.
TEST(CpuNorms, RmsNormPerHeadInPlace) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  const int64_t rows = 5, heads = 4, hd = 8;
  auto x_values = random_values(rows * heads * hd, 3);
  for (int i = 0; i < hd; ++i) x_values[2 * hd + i] *= 100.0f;  // one loud head must not touch its neighbours
  const auto w_values = exact_values(hd, 4);
  auto x = tensor_from(*be, rows, heads * hd, x_values);
  be->rms_norm(*x, *hw.upload(w_values, 1, hd), 1e-6f, hd, *x);
  expect_close(read_all(*be, *x), reference_rms(x_values, w_values, hd, 1e-6), 1e-5);
}

TEST(CpuNorms, LayerNormByHand) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  // mean 2, biased variance 2/3: (x - 2) / sqrt(2/3) = -1.2247, 0, 1.2247.
  auto x = tensor_from(*be, 1, 3, {1.0f, 2.0f, 3.0f});
  auto out = poisoned(*be, 1, 3);
  be->layer_norm(*x, *hw.upload({1, 1, 1}, 1, 3), *hw.upload({0, 0, 0}, 1, 3), 0.0f, *out);
  expect_close(read_all(*be, *out), {-1.224744871391589, 0.0, 1.224744871391589}, 1e-6);
  be->layer_norm(*x, *hw.upload({2, 1, -1}, 1, 3), *hw.upload({0.5f, -1, 0}, 1, 3), 0.0f, *out);
  expect_close(read_all(*be, *out), {-1.949489742783178, -1.0, -1.224744871391589}, 1e-6);
}

TEST(CpuNorms, LayerNormRandomRowsWithLargeMean) {
  auto be = make_cpu_backend(3);
  HostWeights hw(*be);
  const int64_t rows = 33, cols = 72;
  auto x_values = random_values(rows * cols, 5, 99.0f, 101.0f);  // |mean| >> spread
  const auto w_values = exact_values(cols, 6);
  const auto b_values = exact_values(cols, 7);
  auto x = tensor_from(*be, rows, cols, x_values);
  auto out = poisoned(*be, rows, cols);
  be->layer_norm(*x, *hw.upload(w_values, 1, cols, WeightFormat::kBF16), *hw.upload(b_values, 1, cols), 1e-6f, *out);
  // Relative to the output's scale (~1): fp32 inputs near 100 carry ~1e-7 relative error.
  const auto want = reference_layer_norm(x_values, w_values, b_values, cols, 1e-6);
  std::vector<double> scale(want.size());
  for (size_t i = 0; i < want.size(); ++i) scale[i] = 1.0 + std::abs(want[i]);
  expect_close(read_all(*be, *out), want, 1e-5, scale);
}

}  // namespace
}  // namespace ql::backend::test
