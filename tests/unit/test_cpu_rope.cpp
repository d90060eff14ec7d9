// rope(): per head, x*cos + rotate_half(x)*sin with d paired with d + hd/2.
#include "tests/unit/test_cpu_helpers.h"

namespace ql::backend::test {
namespace {

TEST(CpuRope, NinetyDegreesByHand) {
  auto be = make_cpu_backend(2);
  // Head dim 4, two heads. Pair (0, 2) turns by 90 degrees (cos 0, sin 1);
  // pair (1, 3) stays (cos 1, sin 0).
  auto x = tensor_from(*be, 1, 8, {1, 2, 3, 4, 5, 6, 7, 8});
  auto cos = tensor_from(*be, 1, 4, {0, 1, 0, 1});
  auto sin = tensor_from(*be, 1, 4, {1, 0, 1, 0});
  be->rope(*x, *cos, *sin, 4);
  // (a, b) -> (-b, a) on the turned pair.
  EXPECT_EQ(read_all(*be, *x), (std::vector<float>{-3, 2, 1, 4, -7, 6, 5, 8}));
}

TEST(CpuRope, FullTurnOfEveryPairByHand) {
  auto be = make_cpu_backend(2);
  // All pairs by 90 degrees: x' = rotate_half(x) = [-x2, -x3, x0, x1].
  auto x = tensor_from(*be, 2, 4, {1, 2, 3, 4, -1, 0.5f, 2, -8});
  auto cos = tensor_from(*be, 2, 4, std::vector<float>(8, 0.0f));
  auto sin = tensor_from(*be, 2, 4, std::vector<float>(8, 1.0f));
  be->rope(*x, *cos, *sin, 4);
  EXPECT_EQ(read_all(*be, *x), (std::vector<float>{-3, -4, 1, 2, -2, 8, -1, 0.5f}));
}

TEST(CpuRope, RandomAnglesAgainstReference) {
  auto be = make_cpu_backend(3);
  const int64_t rows = 29, heads = 3, hd = 16, half = hd / 2;
  const auto x_values = random_values(rows * heads * hd, 1);
  const auto angles = random_values(rows * half, 2, -50.0f, 50.0f);
  // cos/sin as the model builds them: the half-width angles repeated twice.
  std::vector<float> cos_values(rows * hd), sin_values(rows * hd);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t d = 0; d < hd; ++d) {
      cos_values[r * hd + d] = std::cos(angles[r * half + d % half]);
      sin_values[r * hd + d] = std::sin(angles[r * half + d % half]);
    }
  auto x = tensor_from(*be, rows, heads * hd, x_values);
  be->rope(*x, *tensor_from(*be, rows, hd, cos_values), *tensor_from(*be, rows, hd, sin_values), hd);

  std::vector<double> want(x_values.size()), scale(x_values.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t d = 0; d < hd; ++d) {
        const int64_t base = r * heads * hd + h * hd;
        const double rotated = d < half ? -x_values[base + d + half] : x_values[base + d - half];
        const double c = cos_values[r * hd + d], s = sin_values[r * hd + d];
        want[base + d] = x_values[base + d] * c + rotated * s;
        scale[base + d] = std::abs(x_values[base + d] * c) + std::abs(rotated * s);
      }
  expect_close(read_all(*be, *x), want, 1e-6, scale);
}

}  // namespace
}  // namespace ql::backend::test
