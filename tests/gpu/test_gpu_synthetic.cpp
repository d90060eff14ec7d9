// The synthetic-checkpoint generator on the GPU (gpu/kernels/synthetic) against
// its CPU twin ql::model::synthetic_bf16 (core/model/synthetic_values.h): bit
// for bit (no tolerance: integer hashing and two separately rounded fp32
// operations, identical on both), at several seeds, offsets and scales, with
// indices beyond 2^32 and output starts that are not 16-byte aligned.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <cuda_runtime.h>

#include "core/model/synthetic_values.h"
#include "gpu/kernels/synthetic.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace ql::gpu::test {
namespace {

constexpr uint16_t kPoison = 0xffff;  // a NaN the generator never writes for finite offset and scale

// Generates `count` values at `first_index` into a buffer, `lead` elements past a 256-byte aligned start, and
// checks them and the untouched guard elements around them.
void check_range(uint64_t seed, uint64_t first_index, int64_t count, float offset, float scale, int64_t lead) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " first " + std::to_string(first_index) + " count " +
               std::to_string(count) + " lead " + std::to_string(lead));
  const int64_t guard = 16;
  DeviceBuffer buf(static_cast<size_t>(lead + count + guard) * 2);
  QL_GPU_ASSERT(cudaMemset(buf.get(), 0xff, buf.bytes()));
  QL_GPU_ASSERT(launch_synthetic_bf16(seed, first_index, count, offset, scale, buf.get<uint16_t>() + lead, nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  const std::vector<uint16_t> got = to_host<uint16_t>(buf, static_cast<size_t>(lead + count + guard));
  int64_t bad = 0, first_bad = -1;
  for (int64_t i = 0; i < count; ++i) {
    const uint16_t want = model::synthetic_bf16(seed, first_index + static_cast<uint64_t>(i), offset, scale);
    if (got[lead + i] != want && bad++ == 0) first_bad = i;
  }
  EXPECT_EQ(bad, 0) << "first at " << first_bad;
  for (int64_t i = 0; i < lead; ++i) EXPECT_EQ(got[i], kPoison) << "before the range at " << i;
  for (int64_t i = 0; i < guard; ++i) EXPECT_EQ(got[lead + count + i], kPoison) << "after the range at " << i;
}

TEST(GpuSynthetic, MatchesCpu) {
  const uint64_t seeds[] = {0, 1, 0x9E3779B97F4A7C15ull, model::synthetic_tensor_seed(42, "model.layers.0.mlp.experts.gate_up_proj")};
  const float offsets[] = {0.0f, 1.0f, -0.03125f};
  const float scales[] = {0.02f, 1.0f, 3.0e-5f};
  int k = 0;
  for (uint64_t seed : seeds) {
    const float offset = offsets[k % 3], scale = scales[(k / 3 + k) % 3];
    // 10M values crossing 2^33, starting 3 elements past a 16-byte boundary.
    check_range(seed, (uint64_t{1} << 33) - 5'000'001, 10'000'000, offset, scale, 3);
    ++k;
  }
}

TEST(GpuSynthetic, SmallAndUnalignedRanges) {
  for (int64_t count : {1, 2, 7, 8, 9, 15, 16, 17, 100, 1001}) {
    for (int64_t lead : {0, 1, 4, 7}) check_range(7, 123456789, count, 0.5f, 0.25f, lead);
  }
  EXPECT_EQ(launch_synthetic_bf16(1, 0, 0, 0.0f, 1.0f, nullptr, nullptr), cudaSuccess);
  DeviceBuffer b(64);
  EXPECT_EQ(launch_synthetic_bf16(1, 0, 4, 0.0f, 1.0f, b.get<uint8_t>() + 1, nullptr), cudaErrorMisalignedAddress);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// 1e9 values (2 GB of bf16, far beyond the L2): a 48-layer synthetic model has 31e9 elements.
TEST(GpuSynthetic, Timing) {
  constexpr int64_t kCount = 1'000'000'000;
  DeviceBuffer buf(static_cast<size_t>(kCount) * 2);
  ASSERT_NE(buf.get(), nullptr);
  cudaEvent_t start, stop;
  QL_GPU_ASSERT(cudaEventCreate(&start));
  QL_GPU_ASSERT(cudaEventCreate(&stop));
  std::vector<float> ms;
  const uint64_t seed = model::synthetic_tensor_seed(7, "timing");
  for (int it = 0; it < 23; ++it) {
    QL_GPU_ASSERT(cudaEventRecord(start));
    QL_GPU_ASSERT(launch_synthetic_bf16(seed, 1000, kCount, 0.01f, 0.05f, buf.get(), nullptr));
    QL_GPU_ASSERT(cudaEventRecord(stop));
    QL_GPU_ASSERT(cudaEventSynchronize(stop));
    float t = 0;
    QL_GPU_ASSERT(cudaEventElapsedTime(&t, start, stop));
    if (it >= 3) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  const double med = ms[ms.size() / 2];
  std::printf("TIMING synthetic_bf16 1e9 values: %.3f ms, %.0f GB/s written, %.2f G values/ms\n", med,
              kCount * 2.0 / med * 1e-6, kCount / med * 1e-9);
  // Correctness of the timed output at its start, its end and one window in between.
  for (int64_t first : {int64_t{0}, kCount / 3 + 5, kCount - 100000}) {
    std::vector<uint16_t> got(100000);
    QL_GPU_ASSERT(cudaMemcpy(got.data(), buf.get<uint16_t>() + first, got.size() * 2, cudaMemcpyDeviceToHost));
    int64_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      bad += got[i] != model::synthetic_bf16(seed, 1000 + static_cast<uint64_t>(first) + i, 0.01f, 0.05f);
    }
    EXPECT_EQ(bad, 0) << "window at " << first;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace
}  // namespace ql::gpu::test
