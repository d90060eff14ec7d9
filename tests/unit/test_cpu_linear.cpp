// linear(): x . W^T (+ bias) for every weight format and storage (row-major,
// transposed, unaligned), small and large, against a double reference on the
// exact weight values.
#include <limits>

#include "tests/unit/test_cpu_helpers.h"

namespace ql::backend::test {
namespace {

struct Reference {
  std::vector<double> value;  // [n, N]
  std::vector<double> scale;  // sum of |terms|: the size of the fp32 rounding
};

Reference reference_linear(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>* bias,
                           int64_t n, int64_t big_n, int64_t k) {
  Reference r{std::vector<double>(n * big_n), std::vector<double>(n * big_n)};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < big_n; ++j) {
      double sum = bias ? (*bias)[j] : 0.0, size = bias ? std::abs((*bias)[j]) : 0.0;
      for (int64_t c = 0; c < k; ++c) {
        sum += static_cast<double>(x[i * k + c]) * w[j * k + c];
        size += std::abs(static_cast<double>(x[i * k + c]) * w[j * k + c]);
      }
      r.value[i * big_n + j] = sum;
      r.scale[i * big_n + j] = size;
    }
  return r;
}

TEST(CpuLinear, SmallProductByHand) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  auto w = hw.upload({1, 0, 0, 1, 1, 1}, 3, 2);
  auto b = hw.upload({0.5f, 0.0f, -1.0f}, 1, 3);
  auto x = tensor_from(*be, 2, 2, {1, 2, -3, 4});
  auto out = poisoned(*be, 2, 3);
  be->linear(*x, *w, b.get(), *out, false);
  EXPECT_EQ(read_all(*be, *out), (std::vector<float>{1.5f, 2.0f, 2.0f, -2.5f, 4.0f, 0.0f}));
}

struct Storage {
  WeightFormat format;
  bool transposed;
  bool misaligned;
};

class CpuLinearStorage : public ::testing::TestWithParam<Storage> {};

TEST_P(CpuLinearStorage, EveryStorageGivesTheReferenceProduct) {
  const Storage s = GetParam();
  auto be = make_cpu_backend(3);
  HostWeights hw(*be);
  const int64_t big_n = 70, k = 40;
  const auto w_values = exact_values(big_n * k, 11);
  const auto b_values = exact_values(big_n, 12);
  auto w = hw.upload(w_values, big_n, k, s.format, s.transposed, s.misaligned);
  auto b = hw.upload(b_values, 1, big_n, s.format, false, s.misaligned);
  ASSERT_TRUE(w && b);
  EXPECT_EQ(w->format(), s.format);
  EXPECT_EQ(w->rows(), big_n);
  EXPECT_EQ(w->cols(), k);
  EXPECT_EQ(w->owned_bytes() > 0, s.transposed || s.misaligned);
  for (int64_t n : {1, 3, 37}) {
    const auto x_values = random_values(n * k, 13 + static_cast<uint32_t>(n));
    auto x = tensor_from(*be, n, k, x_values);
    auto out = poisoned(*be, n, big_n);
    be->linear(*x, *w, b.get(), *out, false);
    const Reference ref = reference_linear(x_values, w_values, &b_values, n, big_n, k);
    SCOPED_TRACE(testing::Message() << "n = " << n);
    expect_close(read_all(*be, *out), ref.value, 1e-5, ref.scale);

    auto no_bias = poisoned(*be, n, big_n);
    be->linear(*x, *w, nullptr, *no_bias, false);
    const Reference ref0 = reference_linear(x_values, w_values, nullptr, n, big_n, k);
    expect_close(read_all(*be, *no_bias), ref0.value, 1e-5, ref0.scale);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, CpuLinearStorage,
    ::testing::Values(Storage{WeightFormat::kF32, false, false}, Storage{WeightFormat::kF32, true, false},
                      Storage{WeightFormat::kF32, false, true}, Storage{WeightFormat::kF32, true, true},
                      Storage{WeightFormat::kBF16, false, false}, Storage{WeightFormat::kBF16, true, false},
                      Storage{WeightFormat::kBF16, false, true}, Storage{WeightFormat::kBF16, true, true},
                      Storage{WeightFormat::kF16, false, false}, Storage{WeightFormat::kF16, true, false},
                      Storage{WeightFormat::kF16, false, true}, Storage{WeightFormat::kF16, true, true}),
    [](const auto& info) {
      return std::string(weight_format_name(info.param.format)) + (info.param.transposed ? "_Transposed" : "") +
             (info.param.misaligned ? "_Unaligned" : "");
    });

// F16 and BF16 edge values (subnormals, the largest finite values, infinity)
// decode exactly: x = 1 picks out each weight value. Every value below is
// exactly representable in its format.
TEST(CpuLinear, SixteenBitFormatsDecodeEdgeValues) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> bf16_values = {0.0f, 3.3895313892515355e38f /* max */, -2.5f, 0.333984375f,
                                          9.183549615799121e-41f /* min subnormal 2^-133 */,
                                          1.1754943508222875e-38f /* min normal */, -inf};
  const std::vector<float> f16_values = {0.0f, 65504.0f /* max */, -65504.0f, 0.333251953125f,
                                         5.960464477539063e-08f /* min subnormal 2^-24 */,
                                         6.103515625e-05f /* min normal */, inf};
  for (auto format : {WeightFormat::kBF16, WeightFormat::kF16}) {
    const auto& values = format == WeightFormat::kBF16 ? bf16_values : f16_values;
    const auto n = static_cast<int64_t>(values.size());
    auto w = hw.upload(values, n, 1, format);
    auto x = tensor_from(*be, 1, 1, {1.0f});
    auto out = poisoned(*be, 1, n);
    be->linear(*x, *w, nullptr, *out, false);
    const auto got = read_all(*be, *out);
    for (size_t i = 0; i < values.size(); ++i)
      EXPECT_EQ(got[i], values[i]) << weight_format_name(format) << " value " << i;
  }
}

// The decode-time lm_head of the tiny model: one row against 151,936 rows.
TEST(CpuLinear, LmHeadSizedMatvec) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  const int64_t big_n = 151936, k = 24;
  const auto w_values = exact_values(big_n * k, 21);
  const auto x_values = random_values(k, 22);
  auto w = hw.upload(w_values, big_n, k, WeightFormat::kBF16);
  auto x = tensor_from(*be, 1, k, x_values);
  auto out = poisoned(*be, 1, big_n);
  be->linear(*x, *w, nullptr, *out, false);
  const Reference ref = reference_linear(x_values, w_values, nullptr, 1, big_n, k);
  expect_close(read_all(*be, *out), ref.value, 1e-5, ref.scale);
}

// Shapes that make the pool split weight rows, token rows, or both.
TEST(CpuLinear, ParallelSplitsGiveTheReference) {
  auto be = make_cpu_backend(3);
  HostWeights hw(*be);
  struct Shape {
    int64_t n, big_n, k;
  };
  for (const Shape s : {Shape{300, 5, 64}, Shape{2, 3000, 48}, Shape{129, 257, 96}, Shape{1, 4099, 1000}}) {
    const auto w_values = exact_values(s.big_n * s.k, 31);
    const auto x_values = random_values(s.n * s.k, 32);
    auto w = hw.upload(w_values, s.big_n, s.k, WeightFormat::kF16);
    auto x = tensor_from(*be, s.n, s.k, x_values);
    auto out = poisoned(*be, s.n, s.big_n);
    be->linear(*x, *w, nullptr, *out, false);
    const Reference ref = reference_linear(x_values, w_values, nullptr, s.n, s.big_n, s.k);
    SCOPED_TRACE(testing::Message() << "[" << s.n << " x " << s.k << "] . [" << s.big_n << " x " << s.k << "]^T");
    expect_close(read_all(*be, *out), ref.value, 1e-5, ref.scale);
  }
}

// Input and output may be views (row ranges of larger tensors).
TEST(CpuLinear, ViewsInAndOut) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  const int64_t k = 8, big_n = 6;
  const auto w_values = exact_values(big_n * k, 41);
  auto w = hw.upload(w_values, big_n, k);
  const auto x_all = random_values(5 * k, 42);
  auto x_base = tensor_from(*be, 5, k, x_all);
  auto out_base = poisoned(*be, 4, big_n);
  auto x = be->view(x_base, 2, 2, k);      // rows 2, 3
  auto out = be->view(out_base, 1, 2, big_n);  // rows 1, 2
  be->linear(*x, *w, nullptr, *out, false);
  const std::vector<float> x_rows(x_all.begin() + 2 * k, x_all.begin() + 4 * k);
  const Reference ref = reference_linear(x_rows, w_values, nullptr, 2, big_n, k);
  expect_close(read_all(*be, *out), ref.value, 1e-5, ref.scale);
  const auto all = read_all(*be, *out_base);
  EXPECT_EQ(count_nan(all), static_cast<size_t>(2 * big_n)) << "rows 0 and 3 must be untouched";
}

}  // namespace
}  // namespace ql::backend::test
