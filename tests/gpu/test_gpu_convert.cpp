// GPU parity: widening bf16/f16 to fp32 on the device equals the CPU reference
// bit for bit, on random bit patterns (NaNs compared as NaN).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/common/float16.h"
#include "gpu/convert.cuh"
#include "gpu/device_info.h"

namespace {

void check_kind(ql::gpu::Half16 kind, float (*ref)(uint16_t)) {
  std::mt19937 rng(1234);
  std::vector<uint16_t> in(1 << 20);
  for (auto& v : in) v = static_cast<uint16_t>(rng());
  for (uint32_t i = 0; i < 65536; ++i) in[i] = static_cast<uint16_t>(i);  // every pattern once
  std::vector<float> out(in.size(), 12345.0f);
  auto st = ql::gpu::widen_to_f32_roundtrip(kind, in.data(), out.data(), in.size());
  ASSERT_TRUE(st.ok()) << st.message();
  size_t bad = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const float want = ref(in[i]);
    if (std::isnan(want)) {
      if (!std::isnan(out[i])) ++bad;
    } else if (std::memcmp(&want, &out[i], 4) != 0) {
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0u);
}

}  // namespace

TEST(GpuDevice, ReportsHopperAndMemory) {
  auto info = ql::gpu::query_device(0);
  ASSERT_TRUE(info.ok()) << info.message();
  EXPECT_GE(info->sm_major, 9) << info->name;
  EXPECT_GT(info->total_bytes, size_t(1) << 30);
  EXPECT_LE(info->free_bytes, info->total_bytes);
}

TEST(GpuConvert, Bf16MatchesCpu) { check_kind(ql::gpu::Half16::kBF16, ql::bf16_to_f32); }
TEST(GpuConvert, F16MatchesCpu) { check_kind(ql::gpu::Half16::kF16, ql::f16_to_f32); }
