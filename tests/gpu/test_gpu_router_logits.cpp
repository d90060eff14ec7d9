// GPU router logits (gpu/kernels/router_logits.cuh): fp32 products of fp32 x
// with the router as stored, against a double-precision reference. The
// tolerance is fp32 rounding of the accumulation (1e-5 of sum |x_c * w_c|);
// the dense GEMM's 16-bit x is off by up to 2^-9 of it, which picks another
// expert where two nearly tie (PicksTheExactTopExperts). Few tokens take the
// column-split path (partial sums in scratch, added in a fixed order).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "gpu/kernels/router_logits.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace {

using namespace ql::gpu;
using namespace ql::gpu::test;

// launch_router_logits with the scratch it asks for (kept alive until the next call).
cudaError_t router(const DeviceWeight& w, const float* x, int64_t ldx, int64_t n, float* logits, int64_t ldl) {
  static DeviceBuffer scratch(1);
  const size_t need = router_logits_scratch_bytes(n, w.rows, w.cols);
  if (need > scratch.bytes()) scratch = DeviceBuffer(need);
  return launch_router_logits(w, x, ldx, n, logits, ldl, need > 0 ? scratch.get<void>() : nullptr, need, nullptr);
}

struct Case {
  WFormat format;
  int64_t n, experts, hidden;
  int64_t first_row = 0, stored_rows = 0;  // a row view when stored_rows > experts
};

// Exact logits of view rows [first_row, first_row + experts) and the scale
// sum |x_c * w_c| of each.
void reference(const std::vector<float>& x, const std::vector<float>& w, const Case& c, std::vector<double>* exact,
               std::vector<double>* scale) {
  exact->assign(static_cast<size_t>(c.n * c.experts), 0.0);
  scale->assign(exact->size(), 0.0);
  for (int64_t t = 0; t < c.n; ++t)
    for (int64_t e = 0; e < c.experts; ++e) {
      double s = 0.0, a = 0.0;
      for (int64_t k = 0; k < c.hidden; ++k) {
        const double p = static_cast<double>(x[t * c.hidden + k]) * w[(c.first_row + e) * c.hidden + k];
        s += p;
        a += std::fabs(p);
      }
      (*exact)[t * c.experts + e] = s;
      (*scale)[t * c.experts + e] = a;
    }
}

void run_case(const Case& c, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "format " << static_cast<int>(c.format) << " n " << c.n << " experts "
                                    << c.experts << " hidden " << c.hidden << " first_row " << c.first_row);
  const int64_t stored = c.stored_rows > 0 ? c.stored_rows : c.experts;
  std::vector<float> w_rounded;
  TestWeight tw = upload_dense(c.format, random_floats(static_cast<size_t>(stored * c.hidden), seed), stored,
                               c.hidden, 1, &w_rounded);
  tw.w.first_row = c.first_row;
  tw.w.rows = c.experts;
  const auto x = random_floats(static_cast<size_t>(c.n * c.hidden), seed + 1, -2.0f, 2.0f);
  DeviceBuffer dx = to_device(x);
  DeviceBuffer dl(static_cast<size_t>(c.n * c.experts) * 4);
  poison_f32(dl);
  QL_GPU_ASSERT(router(tw.w, dx.get<float>(), c.hidden, c.n, dl.get<float>(), c.experts));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  const auto got = to_host<float>(dl, static_cast<size_t>(c.n * c.experts));
  std::vector<double> exact, scale;
  reference(x, w_rounded, c, &exact, &scale);
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    const double err = std::fabs(got[i] - exact[i]);
    if (!(err <= 1e-5 * scale[i] + 1e-30)) {
      ADD_FAILURE() << "logit " << i / c.experts << "," << i % c.experts << ": " << got[i] << " vs " << exact[i]
                    << " (scale " << scale[i] << ")";
      ++bad;
    }
  }
}

TEST(GpuRouterLogits, MatchesExactProducts) {
  run_case({WFormat::kBF16, 88, 8, 24}, 1);        // the demo checkpoint's router
  run_case({WFormat::kBF16, 1000, 128, 2048}, 2);  // the real model's router, a prefill of 1000 tokens
  run_case({WFormat::kF16, 37, 70, 33}, 3);        // partial tiles everywhere, odd k
  run_case({WFormat::kF32, 65, 64, 17}, 4);
  run_case({WFormat::kBF16, 130, 5, 40, 3, 11}, 5);  // a row view of a larger matrix
  run_case({WFormat::kBF16, 1, 8, 24}, 6);
  run_case({WFormat::kBF16, 32, 128, 2048}, 7);  // a prefill chunk of 32 tokens: split over the columns
  run_case({WFormat::kF16, 17, 128, 2000}, 8);   // split, the last slice shorter than the others
  run_case({WFormat::kF32, 5, 3, 1000}, 9);
}

TEST(GpuRouterLogits, SplitsFewTokensAndRefusesTooLittleScratch) {
  EXPECT_GT(router_logits_scratch_bytes(32, 128, 2048), 0u);
  EXPECT_EQ(router_logits_scratch_bytes(20000, 128, 2048), 0u);  // enough tiles without a split
  TestWeight tw = upload_dense(WFormat::kBF16, random_floats(128 * 2048, 31), 128, 2048);
  DeviceBuffer dx(32 * 2048 * 4), dl(32 * 128 * 4);
  const size_t need = router_logits_scratch_bytes(32, 128, 2048);
  DeviceBuffer small(need - 4);
  EXPECT_EQ(launch_router_logits(tw.w, dx.get<float>(), 2048, 32, dl.get<float>(), 128, nullptr, 0, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(launch_router_logits(tw.w, dx.get<float>(), 2048, 32, dl.get<float>(), 128, small.get<void>(), need - 4,
                                 nullptr),
            cudaErrorInvalidValue);
}

// The demo's router shape on many tokens: the top-2 experts the kernel's
// logits pick are the exact products' wherever the exact gap between the 2nd
// and 3rd expert exceeds the tolerance; with x rounded to bf16 first (what a
// tensor-core GEMM reads) some tokens pick another expert.
TEST(GpuRouterLogits, PicksTheExactTopExperts) {
  const Case c{WFormat::kBF16, 20000, 8, 24};
  std::vector<float> wr;
  TestWeight tw = upload_dense(c.format, random_floats(static_cast<size_t>(c.experts * c.hidden), 21), c.experts,
                               c.hidden, 1, &wr);
  const auto x = random_floats(static_cast<size_t>(c.n * c.hidden), 22, -2.0f, 2.0f);
  DeviceBuffer dx = to_device(x);
  DeviceBuffer dl(static_cast<size_t>(c.n * c.experts) * 4);
  QL_GPU_ASSERT(router(tw.w, dx.get<float>(), c.hidden, c.n, dl.get<float>(), c.experts));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  const auto got = to_host<float>(dl, static_cast<size_t>(c.n * c.experts));
  std::vector<double> exact, scale;
  reference(x, wr, c, &exact, &scale);
  std::vector<double> rounded(exact.size());  // logits of bf16-rounded x
  for (int64_t t = 0; t < c.n; ++t)
    for (int64_t e = 0; e < c.experts; ++e) {
      double s = 0.0;
      for (int64_t k = 0; k < c.hidden; ++k)
        s += static_cast<double>(ql::bf16_to_f32(ql::f32_to_bf16(x[t * c.hidden + k]))) * wr[e * c.hidden + k];
      rounded[t * c.experts + e] = s;
    }
  // The two best experts of row t of v (index order breaks ties).
  auto top2 = [&](const auto& v, int64_t t) {
    int b0 = -1, b1 = -1;
    for (int e = 0; e < c.experts; ++e) {
      const double l = v[t * c.experts + e];
      if (b0 < 0 || l > v[t * c.experts + b0]) b1 = b0, b0 = e;
      else if (b1 < 0 || l > v[t * c.experts + b1]) b1 = e;
    }
    return std::make_pair(b0, b1);
  };
  int checked = 0, bf16_changed = 0, wrong = 0;
  for (int64_t t = 0; t < c.n; ++t) {
    const auto want = top2(exact, t);
    double third = -1e300, tol = 0;
    for (int e = 0; e < c.experts; ++e) {
      if (e == want.first || e == want.second) continue;
      third = std::max(third, exact[t * c.experts + e]);
      tol = std::max(tol, 2e-5 * scale[t * c.experts + e]);
    }
    tol = std::max({tol, 2e-5 * scale[t * c.experts + want.first], 2e-5 * scale[t * c.experts + want.second]});
    if (exact[t * c.experts + want.second] - third <= tol) continue;
    ++checked;
    const auto g = top2(got, t);
    const auto r = top2(rounded, t);
    if (std::minmax(g.first, g.second) != std::minmax(want.first, want.second)) ++wrong;
    if (std::minmax(r.first, r.second) != std::minmax(want.first, want.second)) ++bf16_changed;
  }
  std::printf("ROUTER top-2 of %d tokens: fp32 kernel %d differ from exact, bf16 x would change %d\n", checked, wrong,
              bf16_changed);
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(checked, c.n * 9 / 10);
  // The case the kernel exists for: on this data rounding x alone changes experts.
  EXPECT_GT(bf16_changed, 0);
}

TEST(GpuRouterLogits, RejectsQuantizedAndBadArguments) {
  TestWeight tw = upload_dense(WFormat::kBF16, random_floats(8 * 24, 9), 8, 24);
  DeviceBuffer dx(88 * 24 * 4), dl(88 * 8 * 4);
  DeviceWeight q = tw.w;
  q.format = WFormat::kInt8;
  EXPECT_EQ(router(q, dx.get<float>(), 24, 88, dl.get<float>(), 8), cudaErrorInvalidValue);
  EXPECT_EQ(router(tw.w, dx.get<float>(), 23, 88, dl.get<float>(), 8), cudaErrorInvalidValue);
  EXPECT_EQ(router(tw.w, dx.get<float>(), 24, 88, dl.get<float>(), 7), cudaErrorInvalidValue);
  EXPECT_EQ(router(tw.w, nullptr, 24, 88, dl.get<float>(), 8), cudaErrorInvalidValue);
  EXPECT_EQ(router(tw.w, dx.get<float>(), 24, 0, dl.get<float>(), 8), cudaSuccess);
}

void time_router(int64_t n) {
  const int64_t E = 128, H = 2048;
  TestWeight tw = upload_dense(WFormat::kBF16, random_floats(static_cast<size_t>(E * H), 11), E, H);
  DeviceBuffer dx = to_device(random_floats(static_cast<size_t>(n * H), 12));
  DeviceBuffer dl(static_cast<size_t>(n * E) * 4);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  QL_GPU_ASSERT(router(tw.w, dx.get<float>(), H, n, dl.get<float>(), E));
  cudaEventRecord(a);
  const int reps = 20;
  for (int i = 0; i < reps; ++i) router(tw.w, dx.get<float>(), H, n, dl.get<float>(), E);
  cudaEventRecord(b);
  QL_GPU_ASSERT(cudaEventSynchronize(b));
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  ms /= reps;
  std::printf("TIMING router_logits n=%lld 128x2048 bf16: %.3f ms (x48 layers %.1f ms), %.1f TFLOP/s fp32\n",
              static_cast<long long>(n), ms, 48 * ms, 2.0 * n * E * H / (ms * 1e-3) / 1e12);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
}

TEST(GpuRouterLogits, Timing) {
  for (int64_t n : {32, 512, 8192}) time_router(n);
}

}  // namespace
