// GPU MoE grouping and combine (gpu/kernels/moe_group.cuh). Grouping is
// integer work: exact against a CPU stable counting sort. Combine: bitwise
// equal to an fp32 reference that sums in the same slot order (each product
// and each sum rounded, no FMA), and within fp32 rounding of a double one.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "gpu/kernels/moe_group.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace {

using namespace ql::gpu::test;

std::vector<int32_t> random_ids(int64_t n, int top_k, int experts, bool distinct, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n * top_k));
  std::vector<int32_t> perm(experts);
  for (int64_t t = 0; t < n; ++t) {
    if (distinct && top_k <= experts) {
      std::iota(perm.begin(), perm.end(), 0);
      for (int s = 0; s < top_k; ++s) {
        std::swap(perm[s], perm[s + rng() % (experts - s)]);
        ids[t * top_k + s] = perm[s];
      }
    } else {
      for (int s = 0; s < top_k; ++s) ids[t * top_k + s] = static_cast<int32_t>(rng() % experts);
    }
  }
  return ids;
}

struct Grouping {
  std::vector<int32_t> offsets, rows, pos;
};

Grouping cpu_group(const std::vector<int32_t>& ids, int64_t n, int top_k, int experts) {
  Grouping g;
  g.offsets.assign(experts + 1, 0);
  for (int32_t e : ids) ++g.offsets[e + 1];
  for (int e = 0; e < experts; ++e) g.offsets[e + 1] += g.offsets[e];
  std::vector<int32_t> next(g.offsets.begin(), g.offsets.end() - 1);
  g.rows.assign(ids.size(), -1);
  g.pos.assign(ids.size(), -1);
  for (int64_t p = 0; p < n * top_k; ++p) {  // ascending pair index: stable
    const int32_t slot = next[ids[p]]++;
    g.rows[slot] = static_cast<int32_t>(p / top_k);
    g.pos[p] = slot;
  }
  return g;
}

void run_group(int64_t n, int top_k, int experts, bool distinct, uint32_t seed, Grouping* out = nullptr) {
  SCOPED_TRACE(::testing::Message() << "n " << n << " top_k " << top_k << " experts " << experts);
  const auto ids = random_ids(n, top_k, experts, distinct, seed);
  const Grouping want = cpu_group(ids, n, top_k, experts);
  const size_t pairs = ids.size();
  DeviceBuffer idd = to_device(ids);
  DeviceBuffer od((experts + 1) * sizeof(int32_t)), rd(std::max<size_t>(pairs, 1) * 4), pd(std::max<size_t>(pairs, 1) * 4);
  DeviceBuffer scratch(ql::gpu::moe_group_scratch_bytes(n, top_k, experts));
  QL_GPU_ASSERT(cudaMemset(od.get(), 0xff, od.bytes()));  // -1 everywhere: unwritten entries show
  QL_GPU_ASSERT(cudaMemset(rd.get(), 0xff, rd.bytes()));
  QL_GPU_ASSERT(cudaMemset(pd.get(), 0xff, pd.bytes()));
  QL_GPU_ASSERT(ql::gpu::launch_moe_group(idd.get<int32_t>(), n, top_k, experts, od.get<int32_t>(), rd.get<int32_t>(),
                                           pd.get<int32_t>(), scratch.get(), nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  EXPECT_EQ(to_host<int32_t>(od, experts + 1), want.offsets);
  EXPECT_EQ(to_host<int32_t>(rd, pairs), want.rows);
  EXPECT_EQ(to_host<int32_t>(pd, pairs), want.pos);
  if (out) *out = want;
}

TEST(GpuMoeGroup, MatchesStableCountingSort) {
  uint32_t seed = 1;
  // Tiny models (6-10 experts, top-2..4), odd token counts, the real 128 x top-8,
  // and several 256-pair chunks with uneven expert loads.
  run_group(1, 2, 6, true, seed++);
  run_group(3, 4, 10, true, seed++);
  run_group(5, 2, 6, false, seed++);  // an expert may repeat within a token
  run_group(37, 3, 8, true, seed++);
  for (int64_t n : {1, 3, 37, 1000, 512, 4096, 16384}) run_group(n, 8, 128, true, seed++);
  run_group(1000, 8, 128, false, seed++);
  run_group(333, 1, 1, false, seed++);    // one expert
  run_group(70, 5, 1024, true, seed++);   // many experts, most empty
}

TEST(GpuMoeGroup, AllPairsOnOneExpert) {
  const int64_t n = 3000;
  const int top_k = 2, experts = 16;
  std::vector<int32_t> ids(n * top_k, 11);
  const Grouping want = cpu_group(ids, n, top_k, experts);
  DeviceBuffer idd = to_device(ids), od((experts + 1) * 4), rd(ids.size() * 4), pd(ids.size() * 4);
  DeviceBuffer scratch(ql::gpu::moe_group_scratch_bytes(n, top_k, experts));
  QL_GPU_ASSERT(ql::gpu::launch_moe_group(idd.get<int32_t>(), n, top_k, experts, od.get<int32_t>(), rd.get<int32_t>(),
                                           pd.get<int32_t>(), scratch.get(), nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  EXPECT_EQ(to_host<int32_t>(od, experts + 1), want.offsets);
  EXPECT_EQ(to_host<int32_t>(rd, ids.size()), want.rows);
  EXPECT_EQ(to_host<int32_t>(pd, ids.size()), want.pos);
}

void run_combine(int64_t n, int top_k, int64_t H, int64_t ld_pad, bool accumulate, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "n " << n << " top_k " << top_k << " H " << H << " acc " << accumulate);
  const int experts = 16;
  const auto ids = random_ids(n, top_k, experts, true, seed);
  const Grouping g = cpu_group(ids, n, top_k, experts);
  const int64_t pairs = n * top_k;
  const int64_t ldy = H + ld_pad, ldo = H + 2 * ld_pad;
  const auto y = random_floats(static_cast<size_t>(pairs * ldy), seed + 1);
  const auto wts = random_floats(static_cast<size_t>(pairs), seed + 2, 0.0f, 1.0f);
  const auto out0 = random_floats(static_cast<size_t>(n * ldo), seed + 3);
  DeviceBuffer yd = to_device(y), pd = to_device(g.pos), wd = to_device(wts), od(out0.size() * sizeof(float));
  if (accumulate) {
    QL_GPU_ASSERT(cudaMemcpy(od.get(), out0.data(), od.bytes(), cudaMemcpyHostToDevice));
  } else {
    poison_f32(od);
  }
  QL_GPU_ASSERT(ql::gpu::launch_moe_combine(yd.get<float>(), ldy, pd.get<int32_t>(), wd.get<float>(), n, top_k, H,
                                             od.get<float>(), ldo, accumulate, nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  const auto out = to_host<float>(od, out0.size());
  size_t mismatch = 0, far = 0, pad_changed = 0;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < ldo; ++h) {
      const float v = out[t * ldo + h];
      if (h >= H) {  // padding: untouched
        if (accumulate ? v != out0[t * ldo + h] : !std::isnan(v)) ++pad_changed;
        continue;
      }
      float ref = accumulate ? out0[t * ldo + h] : 0.0f;
      double dref = ref, mag = std::fabs(ref);
      for (int s = 0; s < top_k; ++s) {
        const float yv = y[g.pos[t * top_k + s] * ldy + h];
        volatile float prod = wts[t * top_k + s] * yv;  // volatile: rounded, never fused
        ref = ref + prod;
        dref += static_cast<double>(wts[t * top_k + s]) * yv;
        mag += std::fabs(static_cast<double>(wts[t * top_k + s]) * yv);
      }
      if (std::memcmp(&v, &ref, sizeof(float)) != 0) ++mismatch;
      // top_k products and top_k sums, each rounded by at most 2^-24 of the magnitude.
      if (!(std::fabs(v - dref) <= 2 * (top_k + 1) * 0x1p-24 * mag + 1e-30)) ++far;
    }
  }
  EXPECT_EQ(mismatch, 0u);
  EXPECT_EQ(far, 0u);
  EXPECT_EQ(pad_changed, 0u);
}

TEST(GpuMoeCombine, SlotOrderSum) {
  uint32_t seed = 50;
  for (bool acc : {false, true}) {
    run_combine(1, 8, 2048, 0, acc, seed++);
    run_combine(3, 8, 2048, 4, acc, seed++);   // vector path with strided rows
    run_combine(37, 2, 24, 0, acc, seed++);    // tiny hidden sizes
    run_combine(5, 4, 40, 1, acc, seed++);     // odd strides: scalar path
    run_combine(1000, 3, 37, 0, acc, seed++);  // H not a multiple of 4
    run_combine(512, 8, 2048, 0, acc, seed++);
  }
}

TEST(GpuMoeGroup, Timing) {
  const int experts = 128, top_k = 8;
  const int64_t H = 2048;
  cudaEvent_t start, stop;
  QL_GPU_ASSERT(cudaEventCreate(&start));
  QL_GPU_ASSERT(cudaEventCreate(&stop));
  auto median_ms = [&](auto&& fn) {
    for (int i = 0; i < 3; ++i) EXPECT_EQ(fn(), cudaSuccess);
    std::vector<float> ms;
    for (int it = 0; it < 20; ++it) {
      EXPECT_EQ(cudaEventRecord(start), cudaSuccess);
      EXPECT_EQ(fn(), cudaSuccess);
      EXPECT_EQ(cudaEventRecord(stop), cudaSuccess);
      EXPECT_EQ(cudaEventSynchronize(stop), cudaSuccess);
      float t = 0;
      EXPECT_EQ(cudaEventElapsedTime(&t, start, stop), cudaSuccess);
      ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    return static_cast<double>(ms[ms.size() / 2]);
  };
  for (int64_t n : {int64_t(512), int64_t(4096)}) {
    const auto ids = random_ids(n, top_k, experts, true, 7);
    const Grouping want = cpu_group(ids, n, top_k, experts);
    const int64_t pairs = n * top_k;
    DeviceBuffer idd = to_device(ids), od((experts + 1) * 4), rd(pairs * 4), pd(pairs * 4);
    DeviceBuffer scratch(ql::gpu::moe_group_scratch_bytes(n, top_k, experts));
    const double t_group = median_ms([&] {
      return ql::gpu::launch_moe_group(idd.get<int32_t>(), n, top_k, experts, od.get<int32_t>(), rd.get<int32_t>(),
                                       pd.get<int32_t>(), scratch.get(), nullptr);
    });
    QL_GPU_ASSERT(cudaDeviceSynchronize());
    EXPECT_EQ(to_host<int32_t>(od, experts + 1), want.offsets);
    EXPECT_EQ(to_host<int32_t>(rd, pairs), want.rows);
    EXPECT_EQ(to_host<int32_t>(pd, pairs), want.pos);

    // Combine: the y rows read once, out written once (L2-resident at 512 tokens, as in the model).
    DeviceBuffer yd = to_device(random_floats(static_cast<size_t>(pairs * H), 8));
    DeviceBuffer wd = to_device(random_floats(static_cast<size_t>(pairs), 9, 0.0f, 1.0f));
    DeviceBuffer outd(static_cast<size_t>(n * H) * sizeof(float));
    const double t_comb = median_ms([&] {
      return ql::gpu::launch_moe_combine(yd.get<float>(), H, pd.get<int32_t>(), wd.get<float>(), n, top_k, H,
                                         outd.get<float>(), H, false, nullptr);
    });
    QL_GPU_ASSERT(cudaGetLastError());
    const double bytes = double(pairs) * H * 4 + double(n) * H * 4;
    std::printf("TIMING moe_group %lld tokens top-8 of 128: %.1f us; moe_combine H 2048: %.1f us, %.0f GB/s\n",
                static_cast<long long>(n), t_group * 1e3, t_comb * 1e3, bytes / (t_comb * 1e-3) / 1e9);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace
