// GPU parity for the small ops (gpu/kernels/norms, rope, elementwise, rows):
// each kernel against a reference written here that mirrors the CPU backend's
// formula (core/backend/cpu_norms.cpp, cpu_rope.cpp, cpu_elementwise.cpp,
// cpu_rows.cpp) operation for operation. The CPU backend's functions are not
// called: they take backend Tensors. Where the CPU fixes the order of every
// fp32 operation of an element (rope, swiglu, gelu, add, bias, scatter,
// gather, weighted rows, conversions) the GPU must be bit-identical; the norms'
// statistics are double sums whose order differs (a thread tree instead of a
// serial loop), so those are held to a couple of fp32 ulps (see each test).
// Timing tests print lines beginning "TIMING " (docs/gpu-backend.md, "Tests").
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numbers>
#include <random>
#include <vector>

#include <cuda_runtime.h>

#include "core/common/float16.h"
#include "core/quant/int8_rowwise.h"
#include "core/quant/nf4.h"
#include "gpu/kernels/elementwise.cuh"
#include "gpu/kernels/norms.cuh"
#include "gpu/kernels/rope.cuh"
#include "gpu/kernels/rows.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace ql::gpu::test {
namespace {

constexpr WFormat kDenseFormats[] = {WFormat::kF32, WFormat::kBF16, WFormat::kF16};

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Distance in representable fp32 values (+0 and -0 are the same point).
int64_t ulp_distance(float a, float b) {
  auto key = [](float f) {
    const int32_t i = static_cast<int32_t>(bits_of(f));
    return i >= 0 ? static_cast<int64_t>(i) : -static_cast<int64_t>(i & 0x7fffffff);
  };
  const int64_t d = key(a) - key(b);
  return d < 0 ? -d : d;
}

bool same_bits(float a, float b) { return bits_of(a) == bits_of(b); }

// Counts elements whose bits differ; reports the first few.
size_t count_bit_mismatches(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!same_bits(got[i], want[i])) {
      if (bad < 5)
        ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " (0x" << std::hex << bits_of(got[i])
                      << ") want " << want[i] << " (0x" << bits_of(want[i]) << std::dec << ")";
      ++bad;
    }
  }
  return bad;
}

// A vector weight (1 row) of `n` random values in `format`; `rounded` gets the
// values the device holds, as fp32.
TestWeight vector_weight(WFormat format, int64_t n, uint32_t seed, std::vector<float>* rounded, float lo = 0.5f,
                         float hi = 1.5f) {
  return upload_dense(format, random_floats(static_cast<size_t>(n), seed, lo, hi), 1, n, 1, rounded);
}

void sync_ok() {
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

// Median of 20 timed runs after 3 warm-ups, in microseconds per launch. run(i)
// launches the op on input set i (rotating sets keeps big inputs out of the
// L2). reps > 1 times that many back-to-back launches per run and divides:
// for decode-sized ops, whose single launch is shorter than the event timer's
// own overhead (what a CUDA graph of many such ops sees per op).
double median_us(const std::function<void(int)>& run, int reps = 1) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 3; ++i) run(i);
  std::vector<float> ms;
  int k = 3;
  for (int i = 0; i < 20; ++i) {
    cudaEventRecord(a);
    for (int r = 0; r < reps; ++r) run(k++);
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t / static_cast<float>(reps));
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return 0.5 * (ms[9] + ms[10]) * 1000.0;
}

// ============================== norms =========================================

// The CPU's rms_norm for one [rows, cols] matrix: sum_sq in double, serially;
// inv rounded to fp32; out = w * (x * inv) in fp32.
std::vector<float> ref_rms_norm(const std::vector<float>& x, int64_t group, const std::vector<float>& w, float eps,
                                std::vector<double>* exact) {
  std::vector<float> out(x.size());
  if (exact) exact->resize(x.size());
  for (size_t g = 0; g < x.size() / group; ++g) {
    const float* in = x.data() + g * group;
    double ss = 0;
    for (int64_t i = 0; i < group; ++i) ss += static_cast<double>(in[i]) * in[i];
    const double inv_d = 1.0 / std::sqrt(ss / static_cast<double>(group) + eps);
    const auto inv = static_cast<float>(inv_d);
    for (int64_t i = 0; i < group; ++i) {
      out[g * group + i] = w[i] * (in[i] * inv);
      if (exact) (*exact)[g * group + i] = static_cast<double>(w[i]) * in[i] * inv_d;
    }
  }
  return out;
}

// Runs one rms_norm case. offset shifts x and out by that many floats (an
// unaligned start); in_place runs with out == x.
void check_rms_norm(int64_t rows, int64_t cols, int64_t group, WFormat wf, uint32_t seed, int offset = 0,
                    bool in_place = false) {
  SCOPED_TRACE(testing::Message() << "rms_norm rows " << rows << " cols " << cols << " group " << group << " w "
                                  << format_name(wf) << " offset " << offset << (in_place ? " in place" : ""));
  const size_t n = static_cast<size_t>(rows * cols);
  const auto x = random_floats(n, seed, -2.0f, 2.0f);
  std::vector<float> w;
  TestWeight tw = vector_weight(wf, group, seed + 1, &w);
  const float eps = 1e-6f;
  std::vector<double> exact;
  const auto want = ref_rms_norm(x, group, w, eps, &exact);

  DeviceBuffer dx((n + offset) * 4), dout((n + offset) * 4);
  poison_f32(dout);
  QL_GPU_ASSERT(cudaMemcpy(dx.get<float>() + offset, x.data(), n * 4, cudaMemcpyHostToDevice));
  float* out = in_place ? dx.get<float>() + offset : dout.get<float>() + offset;
  QL_GPU_ASSERT(launch_rms_norm(dx.get<float>() + offset, rows, cols, group, tw.w, eps, out, nullptr));
  sync_ok();
  std::vector<float> got(n);
  QL_GPU_ASSERT(cudaMemcpy(got.data(), out, n * 4, cudaMemcpyDeviceToHost));
  ASSERT_EQ(count_nan(got), 0u) << "unwritten or NaN outputs";
  // Tolerance: the GPU sums the same exact double squares in another order, so
  // sum_sq may differ in its last double bits (~1e-15 relative); that moves the
  // fp32 rounding of inv by 1 ulp only when inv lies that close to a rounding
  // point (~1e-7 of groups). One ulp of inv is up to 2^-23 relative, so up to 2
  // ulps of x * inv and 4 of w * (x * inv). Against the exact double product
  // the three fp32 roundings add 1.5 ulps more (+ slack: 6). Expected: 0 differ.
  int64_t worst = 0, worst_exact = 0;
  size_t differ = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t d = ulp_distance(got[i], want[i]);
    worst = std::max(worst, d);
    differ += d != 0;
    worst_exact = std::max(worst_exact, ulp_distance(got[i], static_cast<float>(exact[i])));
  }
  EXPECT_LE(worst, 4) << differ << " of " << n << " elements differ from the CPU formula";
  EXPECT_LE(worst_exact, 6);
  if (differ) std::printf("rms_norm: %zu of %zu elements differ from the CPU formula by <= %lld ulps\n", differ, n,
                          static_cast<long long>(worst));
}

TEST(GpuSmallOps, RmsNormShapes) {
  uint32_t seed = 100;
  int fi = 0;
  struct Case {
    int64_t rows, cols, group;
  };
  const Case cases[] = {
      {1, 2048, 2048}, {3, 2048, 2048}, {1000, 2048, 2048},  // text hidden: block per row
      {1, 4096, 128},  {3, 4096, 128},  {1000, 512, 128},    // q/k norm per head
      {3, 24, 8},      {1000, 16, 8},   {3, 16, 16},   {1, 40, 8},  {3, 48, 16},  // tiny models
      {3, 24, 24},     {1, 8, 8},       {1000, 72, 72}, {3, 100, 100},            // odd groups (100: scalar path)
      {3, 4304, 4304}, {1, 1152, 1152}, {3, 1000, 1000}, {3, 1030, 1030},         // long, and long scalar
  };
  for (const auto& c : cases) {
    check_rms_norm(c.rows, c.cols, c.group, kDenseFormats[fi++ % 3], seed++);
  }
  for (WFormat wf : kDenseFormats) {
    check_rms_norm(3, 2048, 2048, wf, seed++, 1);          // unaligned: scalar path of the block kernel
    check_rms_norm(1000, 512, 128, wf, seed++, 1);         // unaligned: scalar path of the team kernel
    check_rms_norm(3, 2048, 2048, wf, seed++, 0, true);    // in place
    check_rms_norm(1000, 4096, 128, wf, seed++, 0, true);  // in place, per head
  }
}

// The CPU's layer_norm: double mean and two-pass variance, serially; then
// fp32((x - mean) * inv) * w + b in fp32.
std::vector<float> ref_layer_norm(const std::vector<float>& x, int64_t cols, const std::vector<float>& w,
                                  const std::vector<float>& b, float eps, std::vector<float>* scale_term) {
  std::vector<float> out(x.size());
  scale_term->resize(x.size());
  for (size_t r = 0; r < x.size() / cols; ++r) {
    const float* in = x.data() + r * cols;
    double sum = 0;
    for (int64_t i = 0; i < cols; ++i) sum += in[i];
    const double mean = sum / static_cast<double>(cols);
    double ss = 0;
    for (int64_t i = 0; i < cols; ++i) ss += (in[i] - mean) * (in[i] - mean);
    const double var = ss / static_cast<double>(cols);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < cols; ++i) {
      const float y = static_cast<float>((in[i] - mean) * inv);
      out[r * cols + i] = y * w[i] + b[i];
      (*scale_term)[r * cols + i] = std::fabs(y * w[i]) + std::fabs(b[i]);
    }
  }
  return out;
}

void check_layer_norm(int64_t rows, int64_t cols, WFormat wf, WFormat bf, uint32_t seed, int offset = 0,
                      bool in_place = false) {
  SCOPED_TRACE(testing::Message() << "layer_norm rows " << rows << " cols " << cols << " w " << format_name(wf)
                                  << " b " << format_name(bf) << " offset " << offset << (in_place ? " in place" : ""));
  const size_t n = static_cast<size_t>(rows * cols);
  auto x = random_floats(n, seed, -2.0f, 2.0f);
  for (auto& v : x) v += 3.0f;  // a mean well away from 0, as real activations have
  std::vector<float> w, b;
  TestWeight tw = vector_weight(wf, cols, seed + 1, &w);
  TestWeight tb = vector_weight(bf, cols, seed + 2, &b, -0.5f, 0.5f);
  const float eps = 1e-6f;
  std::vector<float> scale;
  const auto want = ref_layer_norm(x, cols, w, b, eps, &scale);

  DeviceBuffer dx((n + offset) * 4), dout((n + offset) * 4);
  poison_f32(dout);
  QL_GPU_ASSERT(cudaMemcpy(dx.get<float>() + offset, x.data(), n * 4, cudaMemcpyHostToDevice));
  float* out = in_place ? dx.get<float>() + offset : dout.get<float>() + offset;
  QL_GPU_ASSERT(launch_layer_norm(dx.get<float>() + offset, rows, cols, tw.w, tb.w, eps, out, nullptr));
  sync_ok();
  std::vector<float> got(n);
  QL_GPU_ASSERT(cudaMemcpy(got.data(), out, n * 4, cudaMemcpyDeviceToHost));
  ASSERT_EQ(count_nan(got), 0u) << "unwritten or NaN outputs";
  // Tolerance: mean and variance are double sums in another order; their last
  // bits can move y = fp32((x - mean) * inv) by 1 ulp (~1e-7 of rows). That
  // moves y * w by <= 2^-23 |y w| plus a rounding of the product and one of the
  // sum (<= 2^-24 |y w| and 2^-24 (|y w| + |b|) each); y * w + b can cancel, so
  // the bound is relative to |y w| + |b|: 2^-21 of it. Expected: 0 differ.
  double worst = 0;
  size_t differ = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    differ += !same_bits(got[i], want[i]);
    worst = std::max(worst, d / (scale[i] * std::ldexp(1.0, -21)));
  }
  EXPECT_LE(worst, 1.0) << differ << " of " << n << " elements differ from the CPU formula";
  if (differ) std::printf("layer_norm: %zu of %zu elements differ from the CPU formula\n", differ, n);
}

TEST(GpuSmallOps, LayerNormShapes) {
  uint32_t seed = 300;
  int fi = 0;
  struct Case {
    int64_t rows, cols;
  };
  const Case cases[] = {{1, 1152}, {3, 1152}, {1000, 1152}, {3, 4608}, {1, 4304},  // vision (block kernel)
                        {1, 16},   {3, 24},   {1000, 32},   {3, 8},    {1000, 72},  // tiny (team kernel)
                        {3, 100},  {1, 2048}, {3, 1000},    {3, 1030}};
  for (const auto& c : cases) {
    check_layer_norm(c.rows, c.cols, kDenseFormats[fi % 3], kDenseFormats[(fi + 1) % 3], seed++);
    ++fi;
  }
  for (WFormat wf : kDenseFormats) {
    check_layer_norm(3, 1152, wf, wf, seed++, 1);
    check_layer_norm(1000, 32, wf, wf, seed++, 1);
    check_layer_norm(1000, 1152, wf, wf, seed++, 0, true);
  }
}

TEST(GpuSmallOps, RmsNormTiming) {
  // Decode: one row of the text hidden size (latency: 8 KB stays in L2).
  {
    const int64_t rows = 1, cols = 2048;
    const auto x = random_floats(rows * cols, 11, -2, 2);
    std::vector<float> w;
    TestWeight tw = vector_weight(WFormat::kBF16, cols, 12, &w);
    DeviceBuffer dx = to_device(x), dout(x.size() * 4);
    QL_GPU_ASSERT(launch_rms_norm(dx.get<float>(), rows, cols, cols, tw.w, 1e-6f, dout.get<float>(), nullptr));
    sync_ok();
    const auto want = ref_rms_norm(x, cols, w, 1e-6f, nullptr);
    const auto got = to_host<float>(dout, x.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_LE(ulp_distance(got[i], want[i]), 4) << i;
    const double us1 = median_us([&](int) {
      launch_rms_norm(dx.get<float>(), rows, cols, cols, tw.w, 1e-6f, dout.get<float>(), nullptr);
    });
    const double us = median_us(
        [&](int) { launch_rms_norm(dx.get<float>(), rows, cols, cols, tw.w, 1e-6f, dout.get<float>(), nullptr); },
        50);
    sync_ok();
    std::printf("TIMING rms_norm [1, 2048] bf16 w: %.2f us per launch back to back (%.2f us alone, events)\n", us,
                us1);
  }
  // Prefill q norm: [4096, 32 * 128] per head (64 MB in + out, past the L2).
  {
    const int64_t rows = 4096, cols = 4096, group = 128;
    const auto x = random_floats(rows * cols, 13, -2, 2);
    std::vector<float> w;
    TestWeight tw = vector_weight(WFormat::kBF16, group, 14, &w);
    DeviceBuffer dx = to_device(x), dout(x.size() * 4);
    QL_GPU_ASSERT(launch_rms_norm(dx.get<float>(), rows, cols, group, tw.w, 1e-6f, dout.get<float>(), nullptr));
    sync_ok();
    const auto want = ref_rms_norm(x, group, w, 1e-6f, nullptr);
    const auto got = to_host<float>(dout, x.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_LE(ulp_distance(got[i], want[i]), 4) << i;
    const double us = median_us([&](int) {
      launch_rms_norm(dx.get<float>(), rows, cols, group, tw.w, 1e-6f, dout.get<float>(), nullptr);
    });
    sync_ok();
    std::printf("TIMING rms_norm [4096, 4096] group 128: %.2f us (%.1f GB/s)\n", us, 2.0 * x.size() * 4 / us / 1e3);
  }
}

TEST(GpuSmallOps, LayerNormTiming) {
  // Vision: [4096, 1152] (one 1024x1024 image), 19 MB in + 19 MB out: 4 rotating
  // sets (150 MB) so the L2 (50 MB) does not hold the next run's input.
  const int64_t rows = 4096, cols = 1152;
  const size_t n = static_cast<size_t>(rows * cols);
  constexpr int kSets = 4;
  std::vector<float> w, b;
  TestWeight tw = vector_weight(WFormat::kBF16, cols, 21, &w);
  TestWeight tb = vector_weight(WFormat::kBF16, cols, 22, &b, -0.5f, 0.5f);
  std::vector<DeviceBuffer> xs, outs;
  std::vector<float> x0;
  for (int s = 0; s < kSets; ++s) {
    auto x = random_floats(n, 23 + s, -2, 2);
    if (s == 0) x0 = x;
    xs.push_back(to_device(x));
    outs.emplace_back(n * 4);
  }
  QL_GPU_ASSERT(launch_layer_norm(xs[0].get<float>(), rows, cols, tw.w, tb.w, 1e-6f, outs[0].get<float>(), nullptr));
  sync_ok();
  std::vector<float> scale;
  const auto want = ref_layer_norm(x0, cols, w, b, 1e-6f, &scale);
  const auto got = to_host<float>(outs[0], n);
  for (size_t i = 0; i < n; ++i)
    ASSERT_LE(std::fabs(static_cast<double>(got[i]) - want[i]), scale[i] * std::ldexp(1.0, -21)) << i;
  const double us = median_us([&](int i) {
    launch_layer_norm(xs[i % kSets].get<float>(), rows, cols, tw.w, tb.w, 1e-6f, outs[i % kSets].get<float>(),
                      nullptr);
  });
  sync_ok();
  std::printf("TIMING layer_norm [4096, 1152] bf16 w/b: %.2f us (%.1f GB/s)\n", us, 2.0 * n * 4 / us / 1e3);
}

// ============================== rope ==========================================

void ref_rope(std::vector<float>& x, int64_t rows, int64_t cols, const std::vector<float>& cs,
              const std::vector<float>& sn, int head_dim) {
  const int64_t half = head_dim / 2, heads = cols / head_dim;
  for (int64_t r = 0; r < rows; ++r) {
    const float* c = cs.data() + r * head_dim;
    const float* s = sn.data() + r * head_dim;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x.data() + r * cols + h * head_dim;
      for (int64_t d = 0; d < half; ++d) {
        const float lo = v[d], hi = v[d + half];
        v[d] = lo * c[d] - hi * s[d];
        v[d + half] = hi * c[d + half] + lo * s[d + half];
      }
    }
  }
}

// cos/sin tables as the model builds them: angles pos * theta^(-2i/d), the
// two halves repeating.
void rope_tables(int64_t rows, int head_dim, uint32_t seed, std::vector<float>* cs, std::vector<float>* sn) {
  std::mt19937 rng(seed);
  cs->resize(rows * head_dim);
  sn->resize(rows * head_dim);
  for (int64_t r = 0; r < rows; ++r) {
    const double pos = static_cast<double>(rng() % 30000);
    for (int d = 0; d < head_dim; ++d) {
      const int i = d % (head_dim / 2);
      const double a = pos * std::pow(5000000.0, -2.0 * i / head_dim);
      (*cs)[r * head_dim + d] = static_cast<float>(std::cos(a));
      (*sn)[r * head_dim + d] = static_cast<float>(std::sin(a));
    }
  }
}

void check_rope(int64_t rows, int64_t heads, int head_dim, uint32_t seed, int offset = 0) {
  SCOPED_TRACE(testing::Message() << "rope rows " << rows << " heads " << heads << " head_dim " << head_dim
                                  << " offset " << offset);
  const int64_t cols = heads * head_dim;
  const size_t n = static_cast<size_t>(rows * cols);
  auto x = random_floats(n, seed, -3, 3);
  std::vector<float> cs, sn;
  rope_tables(rows, head_dim, seed + 1, &cs, &sn);
  DeviceBuffer dx((n + offset) * 4), dc((cs.size() + offset) * 4), ds((sn.size() + offset) * 4);
  QL_GPU_ASSERT(cudaMemcpy(dx.get<float>() + offset, x.data(), n * 4, cudaMemcpyHostToDevice));
  QL_GPU_ASSERT(cudaMemcpy(dc.get<float>() + offset, cs.data(), cs.size() * 4, cudaMemcpyHostToDevice));
  QL_GPU_ASSERT(cudaMemcpy(ds.get<float>() + offset, sn.data(), sn.size() * 4, cudaMemcpyHostToDevice));
  QL_GPU_ASSERT(launch_rope(dx.get<float>() + offset, rows, cols, dc.get<float>() + offset, ds.get<float>() + offset,
                            head_dim, nullptr));
  sync_ok();
  std::vector<float> got(n);
  QL_GPU_ASSERT(cudaMemcpy(got.data(), dx.get<float>() + offset, n * 4, cudaMemcpyDeviceToHost));
  ref_rope(x, rows, cols, cs, sn, head_dim);
  // Bitwise: every element is two fp32 products and one sum in the CPU's order.
  EXPECT_EQ(count_bit_mismatches(got, x, "rope"), 0u);
}

TEST(GpuSmallOps, RopeShapes) {
  uint32_t seed = 500;
  for (int64_t rows : {1, 3, 1000}) {
    check_rope(rows, 32, 128, seed++);  // text q
    check_rope(rows, 4, 128, seed++);   // text k
    check_rope(rows, 16, 72, seed++);   // vision
    check_rope(rows, 3, 8, seed++);     // tiny text (24 columns)
    check_rope(rows, 2, 8, seed++);     // 16 columns
    check_rope(rows, 1, 8, seed++);     // 8 columns
    check_rope(rows, 2, 16, seed++);    // tiny vision
    check_rope(rows, 5, 6, seed++);     // half 3: scalar path
  }
  check_rope(3, 32, 128, seed++, 1);  // unaligned: scalar path
  check_rope(1000, 16, 72, seed++, 1);
}

TEST(GpuSmallOps, RopeTiming) {
  // Prefill q: [512, 32 * 128], 8 MB in place (+0.5 MB tables): 8 rotating sets.
  const int64_t rows = 512, heads = 32;
  const int head_dim = 128;
  const int64_t cols = heads * head_dim;
  const size_t n = static_cast<size_t>(rows * cols);
  constexpr int kSets = 8;
  std::vector<float> cs, sn;
  rope_tables(rows, head_dim, 31, &cs, &sn);
  DeviceBuffer dc = to_device(cs), ds = to_device(sn);
  std::vector<DeviceBuffer> xs;
  auto x0 = random_floats(n, 32, -3, 3);
  for (int s = 0; s < kSets; ++s) xs.push_back(to_device(x0));
  QL_GPU_ASSERT(launch_rope(xs[0].get<float>(), rows, cols, dc.get<float>(), ds.get<float>(), head_dim, nullptr));
  sync_ok();
  const auto got = to_host<float>(xs[0], n);
  ref_rope(x0, rows, cols, cs, sn, head_dim);
  ASSERT_EQ(count_bit_mismatches(got, x0, "rope timing"), 0u);
  // (The timed runs keep rotating the sets in place; only the speed matters.)
  const double us = median_us([&](int i) {
    launch_rope(xs[i % kSets].get<float>(), rows, cols, dc.get<float>(), ds.get<float>(), head_dim, nullptr);
  });
  sync_ok();
  std::printf("TIMING rope [512, 32*128]: %.2f us (%.1f GB/s, x read + written)\n", us, 2.0 * n * 4 / us / 1e3);
  // Decode: one row.
  const double us1 = median_us(
      [&](int i) {
        launch_rope(xs[i % kSets].get<float>(), 1, cols, dc.get<float>(), ds.get<float>(), head_dim, nullptr);
      },
      50);
  sync_ok();
  std::printf("TIMING rope [1, 32*128]: %.2f us per launch back to back\n", us1);
}

// ============================== element-wise ==================================

// The CPU's expressions, with exp / tanh / erf evaluated in double and rounded
// once (what the kernels do: correctly rounded but for ~1e-8 of inputs).
float ref_swiglu(float g, float u) { return g / (1.0f + static_cast<float>(std::exp(-static_cast<double>(g)))) * u; }
// ... and with libm's fp32 functions, exactly as cpu_elementwise.cpp writes it.
float cpu_swiglu(float g, float u) { return g / (1.0f + std::exp(-g)) * u; }

const float kGeluK = std::sqrt(2.0f / std::numbers::pi_v<float>);
const float kInvSqrt2 = 1.0f / std::numbers::sqrt2_v<float>;

float ref_gelu_tanh(float v) {
  const float arg = kGeluK * (v + 0.044715f * v * v * v);
  return 0.5f * v * (1.0f + static_cast<float>(std::tanh(static_cast<double>(arg))));
}
float cpu_gelu_tanh(float v) { return 0.5f * v * (1.0f + std::tanh(kGeluK * (v + 0.044715f * v * v * v))); }
float ref_gelu_erf(float v) {
  return 0.5f * v * (1.0f + static_cast<float>(std::erf(static_cast<double>(v * kInvSqrt2))));
}
float cpu_gelu_erf(float v) { return 0.5f * v * (1.0f + std::erf(v * kInvSqrt2)); }

// Inputs: a uniform spread plus the edges (exp overflow, zeros, tiny, huge).
std::vector<float> activation_inputs(size_t n, uint32_t seed, float range) {
  auto v = random_floats(n, seed, -range, range);
  const float edges[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-45f, 88.0f, -88.0f, 89.0f, -89.0f, 100.0f, -100.0f,
                         1e30f, -1e30f, 3.0e38f, -3.0e38f, 0.5f, -0.5f, 1.0f, -1.0f, 10.0f, -10.0f};
  for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]) && i < n; ++i) v[i * 7 % n] = edges[i];
  return v;
}

// Runs a unary or binary op on n elements at pointer offset `offset` (floats).
std::vector<float> run_flat(const std::vector<float>& a, const std::vector<float>* b, int offset, bool alias_a,
                            const std::function<cudaError_t(const float*, const float*, float*)>& launch) {
  const size_t n = a.size();
  DeviceBuffer da((n + offset) * 4), db(b ? (n + offset) * 4 : 0), dout((n + offset) * 4);
  poison_f32(dout);
  cudaMemcpy(da.get<float>() + offset, a.data(), n * 4, cudaMemcpyHostToDevice);
  if (b) cudaMemcpy(db.get<float>() + offset, b->data(), n * 4, cudaMemcpyHostToDevice);
  float* out = alias_a ? da.get<float>() + offset : dout.get<float>() + offset;
  const cudaError_t e = launch(da.get<float>() + offset, b ? db.get<float>() + offset : nullptr, out);
  EXPECT_EQ(e, cudaSuccess) << cudaGetErrorString(e);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> got(n);
  cudaMemcpy(got.data(), out, n * 4, cudaMemcpyDeviceToHost);
  return got;
}

const size_t kFlatSizes[] = {1, 3, 7, 8, 100, 1000, 4097, 1 << 20};

TEST(GpuSmallOps, Swiglu) {
  uint32_t seed = 700;
  size_t libm_differs = 0, total = 0;
  for (size_t n : kFlatSizes) {
    for (int offset : {0, 1}) {
      for (bool alias : {false, true}) {
        SCOPED_TRACE(testing::Message() << "swiglu n " << n << " offset " << offset << " alias " << alias);
        const auto g = activation_inputs(n, seed++, 20.0f);
        const auto u = random_floats(n, seed++, -3, 3);
        const auto got = run_flat(g, &u, offset, alias, [&](const float* a, const float* b, float* o) {
          return launch_swiglu(a, b, static_cast<int64_t>(n), o, nullptr);
        });
        std::vector<float> want(n);
        for (size_t i = 0; i < n; ++i) want[i] = ref_swiglu(g[i], u[i]);
        // Bitwise (exp correctly rounded on both sides).
        EXPECT_EQ(count_bit_mismatches(got, want, "swiglu"), 0u);
        // libm's expf is within ~0.5 ulp but not always correctly rounded: the
        // CPU's own result may then differ. One ulp of e = exp(-g) can become
        // one ulp of 1 + e (2^-23 relative), up to 2 ulps of g / (1 + e), and
        // with the last product's rounding 4 ulps of the result (seen: 4).
        size_t beyond = 0;
        for (size_t i = 0; i < n; ++i) {
          const float cpu = cpu_swiglu(g[i], u[i]);
          libm_differs += !same_bits(cpu, got[i]);
          if (ulp_distance(cpu, got[i]) > 4 && beyond++ < 5)
            ADD_FAILURE() << "g " << g[i] << " u " << u[i] << ": cpu " << cpu << " gpu " << got[i];
        }
        EXPECT_EQ(beyond, 0u);
        total += n;
      }
    }
  }
  std::printf("swiglu: the CPU's libm-fp32 expression differs in %zu of %zu elements\n", libm_differs, total);
}

TEST(GpuSmallOps, Gelu) {
  uint32_t seed = 800;
  for (GeluMode mode : {GeluMode::kTanh, GeluMode::kErf}) {
    size_t libm_differs = 0, total = 0;
    for (size_t n : kFlatSizes) {
      for (int offset : {0, 1}) {
        for (bool alias : {false, true}) {
          SCOPED_TRACE(testing::Message() << "gelu mode " << static_cast<int>(mode) << " n " << n << " offset "
                                          << offset << " alias " << alias);
          const auto x = activation_inputs(n, seed++, 8.0f);
          const auto got = run_flat(x, nullptr, offset, alias, [&](const float* a, const float*, float* o) {
            return launch_gelu(a, static_cast<int64_t>(n), mode, o, nullptr);
          });
          std::vector<float> want(n);
          for (size_t i = 0; i < n; ++i) want[i] = mode == GeluMode::kTanh ? ref_gelu_tanh(x[i]) : ref_gelu_erf(x[i]);
          EXPECT_EQ(count_bit_mismatches(got, want, "gelu"), 0u);
          // libm's tanhf / erff (1-2 ulp in older glibc): an error e in
          // t = tanh or erf moves 0.5 x (1 + t) by |0.5 x| e, and 1 + t cancels
          // for x << 0, so the bound is absolute: 4 ulps of 1 times |0.5 x|,
          // plus 2 ulps of the result.
          size_t beyond = 0;
          for (size_t i = 0; i < n; ++i) {
            const float cpu = mode == GeluMode::kTanh ? cpu_gelu_tanh(x[i]) : cpu_gelu_erf(x[i]);
            libm_differs += !same_bits(cpu, got[i]);
            const double tol = 4 * std::ldexp(1.0, -24) * std::fabs(0.5 * x[i]) +
                               2 * std::ldexp(std::fabs(static_cast<double>(cpu)), -23);
            if (std::fabs(static_cast<double>(cpu) - got[i]) > tol && beyond++ < 5)
              ADD_FAILURE() << "x " << x[i] << ": cpu " << cpu << " gpu " << got[i];
          }
          EXPECT_EQ(beyond, 0u);
          total += n;
        }
      }
    }
    std::printf("gelu %s: the CPU's libm-fp32 expression differs in %zu of %zu elements\n",
                mode == GeluMode::kTanh ? "tanh" : "erf", libm_differs, total);
  }
}

TEST(GpuSmallOps, AddAndFill) {
  uint32_t seed = 900;
  for (size_t n : kFlatSizes) {
    for (int offset : {0, 1}) {
      for (bool alias : {false, true}) {
        SCOPED_TRACE(testing::Message() << "add n " << n << " offset " << offset << " alias " << alias);
        const auto a = random_floats(n, seed++, -100, 100);
        const auto b = random_floats(n, seed++, -1, 1);
        const auto got = run_flat(a, &b, offset, alias, [&](const float* pa, const float* pb, float* o) {
          return launch_add(pa, pb, static_cast<int64_t>(n), o, nullptr);
        });
        std::vector<float> want(n);
        for (size_t i = 0; i < n; ++i) want[i] = a[i] + b[i];
        EXPECT_EQ(count_bit_mismatches(got, want, "add"), 0u);
      }
      SCOPED_TRACE(testing::Message() << "fill n " << n << " offset " << offset);
      const std::vector<float> dummy(n, 0.0f);
      const auto got = run_flat(dummy, nullptr, offset, false, [&](const float*, const float*, float* o) {
        return launch_fill_f32(o, static_cast<int64_t>(n), -2.5f, nullptr);
      });
      EXPECT_EQ(count_bit_mismatches(got, std::vector<float>(n, -2.5f), "fill"), 0u);
    }
  }
}

TEST(GpuSmallOps, AddBiasRows) {
  uint32_t seed = 1000;
  int fi = 0;
  for (int64_t rows : {1, 3, 1000}) {
    for (int64_t cols : {8, 16, 24, 72, 100, 2048, 4304}) {
      for (int offset : {0, 1}) {
        const WFormat bf = kDenseFormats[fi++ % 3];
        SCOPED_TRACE(testing::Message() << "add_bias_rows rows " << rows << " cols " << cols << " bias "
                                        << format_name(bf) << " offset " << offset);
        const size_t n = static_cast<size_t>(rows * cols);
        auto x = random_floats(n, seed++, -4, 4);
        std::vector<float> bias;
        TestWeight tb = vector_weight(bf, cols, seed++, &bias, -1, 1);
        DeviceBuffer dx((n + offset) * 4);
        QL_GPU_ASSERT(cudaMemcpy(dx.get<float>() + offset, x.data(), n * 4, cudaMemcpyHostToDevice));
        QL_GPU_ASSERT(launch_add_bias_rows(dx.get<float>() + offset, rows, cols, tb.w, nullptr));
        sync_ok();
        std::vector<float> got(n);
        QL_GPU_ASSERT(cudaMemcpy(got.data(), dx.get<float>() + offset, n * 4, cudaMemcpyDeviceToHost));
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c) x[r * cols + c] += bias[c];
        EXPECT_EQ(count_bit_mismatches(got, x, "add_bias_rows"), 0u);
      }
    }
  }
}

// ============================== conversions ===================================

// Random bit patterns plus, for every sign and exponent, the mantissas around
// the rounding points of both 16-bit formats (ties, just below and above).
std::vector<float> conversion_inputs(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v;
  for (int i = 0; i < (1 << 20); ++i) v.push_back(float_of(static_cast<uint32_t>(rng())));
  const uint32_t lows[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x3000,  // f16 (13 dropped bits)
                           0x7fff, 0x8000, 0x8001, 0xffff, 0x18000, 0x17fff};               // bf16 (16 dropped bits)
  for (uint32_t sign = 0; sign < 2; ++sign)
    for (uint32_t e = 0; e < 256; ++e)
      for (uint32_t low : lows)
        for (int k = 0; k < 4; ++k) {
          const uint32_t mant = (static_cast<uint32_t>(rng()) & 0x7e0000u) | low;  // random bits above `low`
          v.push_back(float_of((sign << 31) | (e << 23) | (mant & 0x7fffffu)));
        }
  for (float f : {65504.0f, 65519.996f, 65520.0f, 65536.0f, 6.1035156e-05f, 5.9604645e-08f, 2.9802322e-08f,
                  2.9802326e-08f, 3.4028235e38f, INFINITY, -INFINITY, NAN, -NAN})
    v.push_back(f);
  return v;
}

TEST(GpuSmallOps, Conversions) {
  const auto in = conversion_inputs(1100);
  const size_t n = in.size();
  for (int offset : {0, 1}) {
    SCOPED_TRACE(testing::Message() << "offset " << offset);
    DeviceBuffer din((n + offset) * 4), dh((n + offset) * 2), dback((n + offset) * 4);
    QL_GPU_ASSERT(cudaMemcpy(din.get<float>() + offset, in.data(), n * 4, cudaMemcpyHostToDevice));
    uint16_t* h = dh.get<uint16_t>() + offset;
    for (bool bf16 : {true, false}) {
      QL_GPU_ASSERT(cudaMemset(dh.get(), 0x5a, dh.bytes()));
      QL_GPU_ASSERT(bf16 ? launch_f32_to_bf16(din.get<float>() + offset, static_cast<int64_t>(n), h, nullptr)
                         : launch_f32_to_f16(din.get<float>() + offset, static_cast<int64_t>(n), h, nullptr));
      sync_ok();
      std::vector<uint16_t> got(n);
      QL_GPU_ASSERT(cudaMemcpy(got.data(), h, n * 2, cudaMemcpyDeviceToHost));
      size_t bad = 0;
      for (size_t i = 0; i < n; ++i) {
        const uint16_t want = bf16 ? f32_to_bf16(in[i]) : f32_to_f16(in[i]);
        if (got[i] != want && bad++ < 5)
          ADD_FAILURE() << (bf16 ? "bf16" : "f16") << " of 0x" << std::hex << bits_of(in[i]) << " got 0x" << got[i]
                        << " want 0x" << want << std::dec;
      }
      EXPECT_EQ(bad, 0u) << (bf16 ? "f32 -> bf16" : "f32 -> f16");
    }
  }
  // bf16 -> fp32: every pattern, aligned and not.
  std::vector<uint16_t> all(65536 + 5);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i * 40503u);  // a permutation mod 2^16
  for (int offset : {0, 1}) {
    SCOPED_TRACE(testing::Message() << "bf16_to_f32 offset " << offset);
    const size_t m = all.size();
    DeviceBuffer din((m + offset) * 2), dout((m + offset) * 4);
    poison_f32(dout);
    QL_GPU_ASSERT(cudaMemcpy(din.get<uint16_t>() + offset, all.data(), m * 2, cudaMemcpyHostToDevice));
    QL_GPU_ASSERT(launch_bf16_to_f32(din.get<uint16_t>() + offset, static_cast<int64_t>(m),
                                     dout.get<float>() + offset, nullptr));
    sync_ok();
    std::vector<float> got(m), want(m);
    QL_GPU_ASSERT(cudaMemcpy(got.data(), dout.get<float>() + offset, m * 4, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < m; ++i) want[i] = bf16_to_f32(all[i]);
    EXPECT_EQ(count_bit_mismatches(got, want, "bf16_to_f32"), 0u);
  }
}

// ============================== rows ==========================================

enum class ScatterKind { kSet, kAdd, kBf16 };

// Target rows for n entries in a dst of dst_rows rows: distinct (a shuffled
// prefix) or drawn with repeats.
std::vector<int32_t> target_rows(int64_t n, int64_t dst_rows, bool repeats, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> r(static_cast<size_t>(n));
  if (repeats) {
    const int64_t pool = std::max<int64_t>(1, n / 3);  // many repeats
    for (auto& v : r) v = static_cast<int32_t>(rng() % pool);
  } else {
    std::vector<int32_t> all(static_cast<size_t>(dst_rows));
    for (int64_t i = 0; i < dst_rows; ++i) all[i] = static_cast<int32_t>(i);
    std::shuffle(all.begin(), all.end(), rng);
    std::copy_n(all.begin(), n, r.begin());
  }
  return r;
}

void check_scatter(ScatterKind kind, int64_t n, int64_t cols, bool repeats, int pad, int offset, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "scatter kind " << static_cast<int>(kind) << " n " << n << " cols " << cols
                                  << " repeats " << repeats << " pad " << pad << " offset " << offset);
  const int64_t lds = cols + pad, ldd = cols + pad, dst_rows = 2 * n + 5;
  const auto src = random_floats(static_cast<size_t>(n * lds), seed, -2, 2);
  const auto rows = target_rows(n, dst_rows, repeats, seed + 1);
  const size_t dn = static_cast<size_t>(dst_rows * ldd);
  DeviceBuffer dsrc((src.size() + offset) * 4), drows = to_device(rows);
  QL_GPU_ASSERT(cudaMemcpy(dsrc.get<float>() + offset, src.data(), src.size() * 4, cudaMemcpyHostToDevice));
  if (kind == ScatterKind::kBf16) {
    std::vector<uint16_t> dst(dn);
    std::mt19937 rng(seed + 2);
    for (auto& v : dst) v = static_cast<uint16_t>(rng());
    DeviceBuffer ddst((dn + offset) * 2);
    QL_GPU_ASSERT(cudaMemcpy(ddst.get<uint16_t>() + offset, dst.data(), dn * 2, cudaMemcpyHostToDevice));
    QL_GPU_ASSERT(launch_scatter_rows_bf16(dsrc.get<float>() + offset, lds, drows.get<int32_t>(), n, cols,
                                           ddst.get<uint16_t>() + offset, ldd, nullptr));
    sync_ok();
    std::vector<uint16_t> got(dn);
    QL_GPU_ASSERT(cudaMemcpy(got.data(), ddst.get<uint16_t>() + offset, dn * 2, cudaMemcpyDeviceToHost));
    for (int64_t i = 0; i < n; ++i)  // in order: the last copy of a repeated row wins
      for (int64_t c = 0; c < cols; ++c) dst[rows[i] * ldd + c] = f32_to_bf16(src[i * lds + c]);
    size_t bad = 0;
    for (size_t i = 0; i < dn; ++i) bad += got[i] != dst[i];
    EXPECT_EQ(bad, 0u);
    return;
  }
  auto dst = random_floats(dn, seed + 2, -1, 1);
  DeviceBuffer ddst((dn + offset) * 4);
  QL_GPU_ASSERT(cudaMemcpy(ddst.get<float>() + offset, dst.data(), dn * 4, cudaMemcpyHostToDevice));
  QL_GPU_ASSERT(kind == ScatterKind::kSet
                    ? launch_scatter_rows(dsrc.get<float>() + offset, lds, drows.get<int32_t>(), n, cols,
                                          ddst.get<float>() + offset, ldd, nullptr)
                    : launch_scatter_add_rows(dsrc.get<float>() + offset, lds, drows.get<int32_t>(), n, cols,
                                              ddst.get<float>() + offset, ldd, nullptr));
  sync_ok();
  std::vector<float> got(dn);
  QL_GPU_ASSERT(cudaMemcpy(got.data(), ddst.get<float>() + offset, dn * 4, cudaMemcpyDeviceToHost));
  for (int64_t i = 0; i < n; ++i)  // the CPU's loops, in source order
    for (int64_t c = 0; c < cols; ++c) {
      float& d = dst[rows[i] * ldd + c];
      d = kind == ScatterKind::kSet ? src[i * lds + c] : d + src[i * lds + c];
    }
  // Bitwise, untouched rows and padding included.
  EXPECT_EQ(count_bit_mismatches(got, dst, "scatter"), 0u);
}

TEST(GpuSmallOps, ScatterRows) {
  uint32_t seed = 1200;
  for (ScatterKind kind : {ScatterKind::kSet, ScatterKind::kAdd, ScatterKind::kBf16}) {
    for (int64_t n : {1, 3, 17, 1000}) {
      for (int64_t cols : {8, 16, 24, 72, 100, 512, 2048, 4304}) {
        check_scatter(kind, n, cols, false, 0, 0, seed++);
        if (cols == 24 || cols == 2048) {
          check_scatter(kind, n, cols, true, 0, 0, seed++);  // repeated targets
          check_scatter(kind, n, cols, false, 4, 0, seed++);  // strided rows (aligned)
          check_scatter(kind, n, cols, true, 1, 1, seed++);   // odd stride, unaligned start
        }
      }
    }
  }
}

TEST(GpuSmallOps, GatherRows) {
  uint32_t seed = 1300;
  for (int64_t n : {1, 3, 17, 1000}) {
    for (int64_t cols : {8, 16, 24, 72, 100, 2048, 4304}) {
      for (int variant = 0; variant < 3; ++variant) {
        const int pad = variant == 0 ? 0 : (variant == 1 ? 4 : 3);
        const int offset = variant == 2 ? 1 : 0;
        SCOPED_TRACE(testing::Message() << "gather n " << n << " cols " << cols << " pad " << pad << " offset "
                                        << offset);
        const int64_t src_rows = n + 7, lds = cols + pad, ldo = variant == 2 ? lds + 1 : lds + 4;
        const auto src = random_floats(static_cast<size_t>(src_rows * lds), seed++, -2, 2);
        const auto rows = target_rows(n, src_rows, variant == 1, seed++);  // repeats allowed: a gather may
        DeviceBuffer dsrc((src.size() + offset) * 4), drows = to_device(rows);
        QL_GPU_ASSERT(cudaMemcpy(dsrc.get<float>() + offset, src.data(), src.size() * 4, cudaMemcpyHostToDevice));
        const size_t on = static_cast<size_t>(n * ldo);
        DeviceBuffer dout((on + offset) * 4);
        poison_f32(dout);
        QL_GPU_ASSERT(launch_gather_rows(dsrc.get<float>() + offset, lds, drows.get<int32_t>(), n, cols,
                                         dout.get<float>() + offset, ldo, nullptr));
        sync_ok();
        std::vector<float> got(on);
        QL_GPU_ASSERT(cudaMemcpy(got.data(), dout.get<float>() + offset, on * 4, cudaMemcpyDeviceToHost));
        size_t bad = 0, pad_written = 0;
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t c = 0; c < cols; ++c) bad += !same_bits(got[i * ldo + c], src[rows[i] * lds + c]);
          for (int64_t c = cols; c < ldo; ++c) pad_written += !std::isnan(got[i * ldo + c]);
        }
        EXPECT_EQ(bad, 0u);
        EXPECT_EQ(pad_written, 0u) << "wrote past cols";
      }
    }
  }
}

// A table in `format` with its decoded values (the CPU's decode: core/quant).
struct Table {
  TestWeight tw;
  std::vector<float> values;  // [rows, cols], as the kernels must decode them
};

Table make_table(WFormat format, int64_t rows, int64_t cols, uint32_t seed) {
  Table t;
  std::mt19937 rng(seed);
  if (format == WFormat::kInt8) {
    quant::Int8RowwiseWeight w;
    w.rows = rows;
    w.cols = cols;
    w.codes.resize(static_cast<size_t>(rows * cols));
    for (auto& c : w.codes) c = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    w.scb = random_floats(static_cast<size_t>(rows), seed + 1, 0.01f, 2.0f);
    t.values.resize(w.codes.size());
    quant::decode_rows(w, 0, rows, t.values.data());
    t.tw = upload_int8({w});
  } else if (format == WFormat::kNF4) {
    quant::Nf4Weight w;
    w.rows = rows;
    w.cols = cols;
    const int64_t numel = rows * cols, blocks = (numel + 63) / 64;
    w.packed.resize(static_cast<size_t>((numel + 1) / 2));
    for (auto& b : w.packed) b = static_cast<uint8_t>(rng());
    w.absmax_codes.resize(static_cast<size_t>(blocks));
    for (auto& b : w.absmax_codes) b = static_cast<uint8_t>(rng());
    w.nested_absmax = random_floats(static_cast<size_t>((blocks + 255) / 256), seed + 1, 0.01f, 0.1f);
    const auto qmap = random_floats(16, seed + 2, -1, 1);
    std::copy(qmap.begin(), qmap.end(), w.quant_map.begin());
    const auto nmap = random_floats(256, seed + 3, -1, 1);
    std::copy(nmap.begin(), nmap.end(), w.nested_quant_map.begin());
    w.offset = 0.05f;
    t.values.resize(static_cast<size_t>(numel));
    quant::decode_rows(w, 0, rows, t.values.data());
    t.tw = upload_nf4({w});
  } else {
    t.tw = upload_dense(format, random_floats(static_cast<size_t>(rows * cols), seed, -1, 1), rows, cols, 1,
                        &t.values);
  }
  return t;
}

// The CPU's add_weighted_rows on out [n, ldo] (cols = table cols).
void ref_weighted_rows(const Table& t, const std::vector<int32_t>& idx, const std::vector<float>& wts, int64_t n,
                       int k, std::vector<float>& out, int64_t ldo) {
  const int64_t cols = t.tw.w.cols;
  std::vector<float> sum(static_cast<size_t>(cols));
  for (int64_t i = 0; i < n; ++i) {
    std::fill(sum.begin(), sum.end(), 0.0f);
    for (int j = 0; j < k; ++j) {
      const float wt = wts[i * k + j];
      const float* r = t.values.data() + static_cast<int64_t>(idx[i * k + j]) * cols;
      for (int64_t c = 0; c < cols; ++c) sum[c] += wt * r[c];
    }
    for (int64_t c = 0; c < cols; ++c) out[i * ldo + c] += sum[c];
  }
}

void check_weighted_rows(const Table& t, int64_t n, int k, int64_t ldo, uint32_t seed, double* us = nullptr) {
  SCOPED_TRACE(testing::Message() << "add_weighted_rows table " << format_name(t.tw.w.format) << " [" << t.tw.w.rows
                                  << ", " << t.tw.w.cols << "] n " << n << " k " << k << " ldo " << ldo);
  std::mt19937 rng(seed);
  std::vector<int32_t> idx(static_cast<size_t>(n * k));
  for (auto& v : idx) v = static_cast<int32_t>(rng() % t.tw.w.rows);
  const auto wts = random_floats(idx.size(), seed + 1, 0, 1);
  auto out = random_floats(static_cast<size_t>(n * ldo), seed + 2, -1, 1);
  DeviceBuffer didx = to_device(idx), dw = to_device(wts), dout = to_device(out);
  QL_GPU_ASSERT(launch_add_weighted_rows(t.tw.w, didx.get<int32_t>(), dw.get<float>(), n, k, dout.get<float>(), ldo,
                                         nullptr));
  sync_ok();
  const auto got = to_host<float>(dout, out.size());
  ref_weighted_rows(t, idx, wts, n, k, out, ldo);
  EXPECT_EQ(count_bit_mismatches(got, out, "add_weighted_rows"), 0u);  // padding columns untouched too
  if (us) {
    *us = median_us([&](int) {
      launch_add_weighted_rows(t.tw.w, didx.get<int32_t>(), dw.get<float>(), n, k, dout.get<float>(), ldo, nullptr);
    });
    sync_ok();
  }
}

TEST(GpuSmallOps, AddWeightedRows) {
  uint32_t seed = 1400;
  for (WFormat f : {WFormat::kF32, WFormat::kBF16, WFormat::kF16, WFormat::kInt8, WFormat::kNF4}) {
    const Table tiny = make_table(f, 64, 24, seed++);  // tiny vision tower (odd NF4 blocks across rows)
    for (int64_t n : {1, 3, 1000}) check_weighted_rows(tiny, n, 4, 24 + (n % 2), seed++);
    check_weighted_rows(tiny, 3, 1, 24, seed++);
    const Table real = make_table(f, 2304, 1152, seed++);  // 48 x 48 position grid, vision hidden
    check_weighted_rows(real, 3, 4, 1152, seed++);
    double us = 0;
    check_weighted_rows(real, 4096, 4, 1152, seed++, &us);
    std::printf("TIMING add_weighted_rows [4096, 1152] k 4 %s table: %.2f us\n", format_name(f), us);
  }
}

TEST(GpuSmallOps, RowsTiming) {
  // gather: 4096 of 8192 rows of the text hidden (32 MB read + 32 MB written; the
  // 64 MB source and two output sets rotate past the L2).
  {
    const int64_t n = 4096, cols = 2048, src_rows = 8192;
    const auto src = random_floats(static_cast<size_t>(src_rows * cols), 41, -2, 2);
    const auto rows = target_rows(n, src_rows, false, 42);
    DeviceBuffer dsrc = to_device(src), drows = to_device(rows);
    DeviceBuffer outs[2] = {DeviceBuffer(n * cols * 4), DeviceBuffer(n * cols * 4)};
    QL_GPU_ASSERT(launch_gather_rows(dsrc.get<float>(), cols, drows.get<int32_t>(), n, cols, outs[0].get<float>(),
                                     cols, nullptr));
    sync_ok();
    const auto got = to_host<float>(outs[0], static_cast<size_t>(n * cols));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < cols; ++c) ASSERT_TRUE(same_bits(got[i * cols + c], src[rows[i] * cols + c]));
    const double us = median_us([&](int i) {
      launch_gather_rows(dsrc.get<float>(), cols, drows.get<int32_t>(), n, cols, outs[i % 2].get<float>(), cols,
                         nullptr);
    });
    sync_ok();
    std::printf("TIMING gather_rows [4096 of 8192, 2048]: %.2f us (%.1f GB/s)\n", us, 2.0 * n * cols * 4 / us / 1e3);
  }
  // KV append: scatter_rows_bf16 of [4096, 4 * 128] prefill keys into a 32k-row
  // cache, and one decode row.
  for (int64_t n : {4096, 1}) {
    const int64_t cols = 512, cache_rows = 32768, first = 1000;
    const auto src = random_floats(static_cast<size_t>(n * cols), 43, -2, 2);
    std::vector<int32_t> rows(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows[i] = static_cast<int32_t>(first + i);
    DeviceBuffer dsrc = to_device(src), drows = to_device(rows), dcache(cache_rows * cols * 2);
    QL_GPU_ASSERT(launch_scatter_rows_bf16(dsrc.get<float>(), cols, drows.get<int32_t>(), n, cols, dcache.get(), cols,
                                           nullptr));
    sync_ok();
    std::vector<uint16_t> got(static_cast<size_t>(n * cols));
    QL_GPU_ASSERT(cudaMemcpy(got.data(), dcache.get<uint16_t>() + first * cols, got.size() * 2,
                             cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], f32_to_bf16(src[i])) << i;
    const double us = median_us(
        [&](int) {
          launch_scatter_rows_bf16(dsrc.get<float>(), cols, drows.get<int32_t>(), n, cols, dcache.get(), cols,
                                   nullptr);
        },
        n == 1 ? 50 : 1);
    sync_ok();
    std::printf("TIMING scatter_rows_bf16 [%lld, 512] into a [32768, 512] cache: %.2f us (%.1f GB/s)\n",
                static_cast<long long>(n), us, 6.0 * n * cols / us / 1e3);
  }
  // Deepstack: scatter_add_rows of [1024, 2048] image rows into [4096, 2048] hidden.
  {
    const int64_t n = 1024, cols = 2048, dst_rows = 4096;
    const auto src = random_floats(static_cast<size_t>(n * cols), 44, -2, 2);
    const auto rows = target_rows(n, dst_rows, false, 45);
    auto dst = random_floats(static_cast<size_t>(dst_rows * cols), 46, -1, 1);
    DeviceBuffer dsrc = to_device(src), drows = to_device(rows), ddst = to_device(dst);
    QL_GPU_ASSERT(launch_scatter_add_rows(dsrc.get<float>(), cols, drows.get<int32_t>(), n, cols, ddst.get<float>(),
                                          cols, nullptr));
    sync_ok();
    const auto got = to_host<float>(ddst, dst.size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < cols; ++c) dst[rows[i] * cols + c] += src[i * cols + c];
    ASSERT_EQ(count_bit_mismatches(got, dst, "scatter_add timing"), 0u);
    const double us = median_us([&](int) {
      launch_scatter_add_rows(dsrc.get<float>(), cols, drows.get<int32_t>(), n, cols, ddst.get<float>(), cols,
                              nullptr);
    });
    sync_ok();
    std::printf("TIMING scatter_add_rows [1024, 2048] into [4096, 2048]: %.2f us (%.1f GB/s)\n", us,
                3.0 * n * cols * 4 / us / 1e3);
  }
}

TEST(GpuSmallOps, ElementwiseTiming) {
  // Vision MLP: gelu(tanh) over [4096, 4304] (70 MB in + 70 MB out: past the L2).
  const size_t n = size_t(4096) * 4304;
  const auto x = random_floats(n, 51, -6, 6);
  DeviceBuffer dx = to_device(x), dout(n * 4);
  QL_GPU_ASSERT(launch_gelu(dx.get<float>(), static_cast<int64_t>(n), GeluMode::kTanh, dout.get<float>(), nullptr));
  sync_ok();
  const auto got = to_host<float>(dout, n);
  for (size_t i = 0; i < n; i += 97) ASSERT_TRUE(same_bits(got[i], ref_gelu_tanh(x[i]))) << i;
  const double us = median_us(
      [&](int) { launch_gelu(dx.get<float>(), static_cast<int64_t>(n), GeluMode::kTanh, dout.get<float>(), nullptr); });
  sync_ok();
  std::printf("TIMING gelu tanh [4096, 4304]: %.2f us (%.1f GB/s)\n", us, 2.0 * n * 4 / us / 1e3);
  // swiglu over [8 * 512, 768] expert rows.
  const size_t m = size_t(8 * 512) * 768;
  const auto g = random_floats(m, 52, -6, 6), u = random_floats(m, 53, -3, 3);
  DeviceBuffer dg = to_device(g), du = to_device(u), dso(m * 4);
  const double us2 = median_us([&](int) {
    launch_swiglu(dg.get<float>(), du.get<float>(), static_cast<int64_t>(m), dso.get<float>(), nullptr);
  });
  sync_ok();
  const auto got2 = to_host<float>(dso, m);
  for (size_t i = 0; i < m; i += 97) ASSERT_TRUE(same_bits(got2[i], ref_swiglu(g[i], u[i]))) << i;
  std::printf("TIMING swiglu [4096, 768]: %.2f us (%.1f GB/s)\n", us2, 3.0 * m * 4 / us2 / 1e3);
}

}  // namespace
}  // namespace ql::gpu::test
