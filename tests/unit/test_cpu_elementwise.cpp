// swiglu, gelu (tanh and erf forms) and add, against hand values and double
// references; outputs may alias inputs.
#include <numbers>

#include "tests/unit/test_cpu_helpers.h"

namespace ql::backend::test {
namespace {

std::vector<double> map(const std::vector<float>& x, double (*f)(double)) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = f(x[i]);
  return y;
}

double silu(double z) { return z / (1.0 + std::exp(-z)); }
double gelu_tanh(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}
double gelu_erf(double x) { return 0.5 * x * (1.0 + std::erf(x / std::numbers::sqrt2)); }

TEST(CpuElementwise, SwigluByHand) {
  auto be = make_cpu_backend(2);
  // silu(0) = 0; silu(2) = 2 / (1 + e^-2) = 1.7615941559557646; silu(-100) = -0 (no NaN).
  auto gate = tensor_from(*be, 1, 3, {0.0f, 2.0f, -100.0f});
  auto up = tensor_from(*be, 1, 3, {5.0f, 3.0f, 7.0f});
  auto out = poisoned(*be, 1, 3);
  be->swiglu(*gate, *up, *out);
  expect_close(read_all(*be, *out), {0.0, 3 * 1.7615941559557646, 0.0}, 1e-6);
}

TEST(CpuElementwise, SwigluRandomInPlace) {
  auto be = make_cpu_backend(3);
  const auto g = random_values(300 * 257, 1, -12.0f, 12.0f);
  const auto u = random_values(300 * 257, 2, -3.0f, 3.0f);
  auto gate = tensor_from(*be, 300, 257, g);
  be->swiglu(*gate, *tensor_from(*be, 300, 257, u), *gate);
  std::vector<double> want(g.size());
  for (size_t i = 0; i < g.size(); ++i) want[i] = silu(g[i]) * u[i];
  expect_close(read_all(*be, *gate), want, 1e-5);
}

TEST(CpuElementwise, GeluByHand) {
  auto be = make_cpu_backend(2);
  auto x = tensor_from(*be, 1, 3, {0.0f, 1.0f, -1.0f});
  auto out = poisoned(*be, 1, 3);
  // Phi(1) = 0.8413447460685429.
  be->gelu(*x, GeluKind::kErf, *out);
  expect_close(read_all(*be, *out), {0.0, 0.8413447460685429, -0.15865525393145707}, 1e-6);
  // tanh form at 1: 0.5 (1 + tanh(0.7978845608 * 1.044715)) = 0.8411919906082768.
  be->gelu(*x, GeluKind::kTanh, *out);
  expect_close(read_all(*be, *out), {0.0, 0.8411919906082768, -0.15880800939172324}, 1e-6);
}

TEST(CpuElementwise, GeluRandomBothForms) {
  auto be = make_cpu_backend(3);
  const auto values = random_values(200 * 430, 3, -8.0f, 8.0f);
  auto x = tensor_from(*be, 200, 430, values);
  auto out = poisoned(*be, 200, 430);
  be->gelu(*x, GeluKind::kTanh, *out);
  // Near the negative tail gelu is a tiny difference: absolute slack 1e-6.
  expect_close(read_all(*be, *out), map(values, gelu_tanh), 1e-5);
  auto out2 = poisoned(*be, 200, 430);
  be->gelu(*x, GeluKind::kErf, *out2);
  expect_close(read_all(*be, *out2), map(values, gelu_erf), 1e-5);
}

TEST(CpuElementwise, AddWithAliasedOutput) {
  auto be = make_cpu_backend(2);
  const auto a_values = random_values(70 * 33, 4);
  const auto b_values = random_values(70 * 33, 5);
  std::vector<double> want(a_values.size());
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<double>(a_values[i]) + b_values[i];

  auto a = tensor_from(*be, 70, 33, a_values), b = tensor_from(*be, 70, 33, b_values);
  auto out = poisoned(*be, 70, 33);
  be->add(*a, *b, *out);
  expect_close(read_all(*be, *out), want, 1e-7);
  be->add(*a, *b, *a);  // out is a (residual add)
  expect_close(read_all(*be, *a), want, 1e-7);
  auto a2 = tensor_from(*be, 70, 33, a_values);
  be->add(*a2, *b, *b);  // out is b
  expect_close(read_all(*be, *b), want, 1e-7);
}

}  // namespace
}  // namespace ql::backend::test
