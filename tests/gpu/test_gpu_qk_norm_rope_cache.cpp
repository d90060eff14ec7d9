// GPU fused q/k RMSNorm + rope + KV-cache write (gpu/kernels/qk_norm_rope_cache.cuh)
// against a reference written here that performs core/backend/cpu_norms.cpp's
// rms_norm and core/backend/cpu_rope.cpp's rope operation by operation (sum of
// squares in double, every fp32 product and sum rounded once). Tolerances:
//   q (fp32): at most 1 ulp, and almost every element bit-identical; the one
//     allowed difference is the order the kernel adds the exact double squares
//     in (a tree, not left to right), which can move 1/sqrt by an ulp;
//   cache rows (bf16, round to nearest even of the same fp32 values): at most
//     1 bf16 ulp, for the same reason;
//   every cache element outside the written rows/heads: bit-identical.
// A second reference in plain double (the formula, not the op order) checks
// the first one to 1e-5.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "core/common/float16.h"
#include "gpu/kernels/qk_norm_rope_cache.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace {

using ql::gpu::WFormat;
using namespace ql::gpu::test;

// fp32 operations with one rounding each, whatever the compiler's contraction flags:
// the double product/sum of two floats is exact (or rounds to the same fp32 value).
float mul32(float a, float b) { return static_cast<float>(double(a) * double(b)); }
float sub32(float a, float b) { return static_cast<float>(double(a) - double(b)); }
float add32(float a, float b) { return static_cast<float>(double(a) + double(b)); }

// rms_norm (cpu_norms.cpp) then rope (cpu_rope.cpp) of one head, in their order of operations.
void ref_head_ops(const float* x, const float* w, const float* cs, const float* sn, int hd, float eps, float* out) {
  double sum_sq = 0;
  for (int i = 0; i < hd; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const auto inv = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(hd) + eps));
  std::vector<float> o(static_cast<size_t>(hd));
  for (int i = 0; i < hd; ++i) o[size_t(i)] = mul32(w[i], mul32(x[i], inv));
  const int half = hd / 2;
  for (int d = 0; d < half; ++d) {
    const float lo = o[size_t(d)], hi = o[size_t(d + half)];
    out[d] = sub32(mul32(lo, cs[d]), mul32(hi, sn[d]));
    out[d + half] = add32(mul32(hi, cs[d + half]), mul32(lo, sn[d + half]));
  }
}

// The formula in double: x' = x*cos + rotate_half(x)*sin of rmsnorm(x) * w.
void ref_head_double(const float* x, const float* w, const float* cs, const float* sn, int hd, float eps,
                     double* out) {
  double ss = 0;
  for (int i = 0; i < hd; ++i) ss += double(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(ss / hd + eps);
  std::vector<double> y(static_cast<size_t>(hd));
  for (int i = 0; i < hd; ++i) y[size_t(i)] = x[i] * inv * w[i];
  const int half = hd / 2;
  for (int d = 0; d < hd; ++d) {
    const double rot = d < half ? -y[size_t(d + half)] : y[size_t(d - half)];
    out[d] = y[size_t(d)] * cs[d] + rot * sn[d];
  }
}

int ulp_diff32(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : 1 << 30;
  if ((ia < 0) != (ib < 0)) return a == b ? 0 : 1 << 30;
  return std::abs(ia - ib);
}

int ulp_diff16(uint16_t a, uint16_t b) {
  if ((a & 0x8000) != (b & 0x8000)) return ((a | b) & 0x7fff) == 0 ? 0 : 1 << 20;
  return std::abs(int(a) - int(b));
}

struct Case {
  int64_t n;
  int heads, kv_heads, hd;
  WFormat wformat = WFormat::kBF16;
  bool fused = true;        // q, k, v as column ranges of one [n, (heads + 2 kv) hd] buffer
  int64_t extra_ld = 0;     // separate buffers: row padding of q, k, v
  int64_t extra_ld_kv = 8;  // cache row padding (must stay untouched)
  int64_t capacity = 0;     // cache rows (default 2n + 7)
  float eps = 1e-6f;
  uint32_t seed = 1;
};

struct Result {
  int worst_q_ulp = 0, worst_k_ulp = 0, worst_v_ulp = 0;
  size_t q_inexact = 0, q_count = 0, untouched_changed = 0;
  double ref_vs_double = 0;
};

struct Buffers {
  int64_t ldq, ldk, ldv, ld_kv, qoff, koff, voff, capacity;
  std::vector<float> qkv_q, qkv_k, qkv_v;  // host inputs (fused: all three the same buffer)
  std::vector<float> cos, sin, qw, kw;     // norm weights as stored, widened
  std::vector<int32_t> rows;
  std::vector<uint16_t> k_cache0, v_cache0;
  DeviceBuffer dq, dk, dv, dcos, dsin, drows, dkc, dvc;
  TestWeight qn, kn;
};

void make_buffers(const Case& c, Buffers& b) {
  const int64_t n = c.n;
  const int hd = c.hd;
  b.capacity = c.capacity > 0 ? c.capacity : 2 * n + 7;
  b.ld_kv = int64_t(c.kv_heads) * hd + c.extra_ld_kv;
  std::mt19937 rng(c.seed);
  if (c.fused) {
    const int64_t ld = int64_t(c.heads + 2 * c.kv_heads) * hd;
    b.ldq = b.ldk = b.ldv = ld;
    b.qoff = 0;
    b.koff = int64_t(c.heads) * hd;
    b.voff = b.koff + int64_t(c.kv_heads) * hd;
    b.qkv_q = random_floats(size_t(n * ld), c.seed + 1, -3.0f, 3.0f);
    b.dq = to_device(b.qkv_q);
  } else {
    b.ldq = int64_t(c.heads) * hd + c.extra_ld;
    b.ldk = int64_t(c.kv_heads) * hd + c.extra_ld + 1;
    b.ldv = int64_t(c.kv_heads) * hd + c.extra_ld + 2;
    b.qoff = b.koff = b.voff = 0;
    b.qkv_q = random_floats(size_t(n * b.ldq), c.seed + 1, -3.0f, 3.0f);
    b.qkv_k = random_floats(size_t(n * b.ldk), c.seed + 2, -3.0f, 3.0f);
    b.qkv_v = random_floats(size_t(n * b.ldv), c.seed + 3, -3.0f, 3.0f);
    b.dq = to_device(b.qkv_q);
    b.dk = to_device(b.qkv_k);
    b.dv = to_device(b.qkv_v);
  }
  // Angles per (row, dim), independent halves: catches cos[d] / cos[d + half] mix-ups.
  const auto ang = random_floats(size_t(n * hd), c.seed + 4, -3.14159f, 3.14159f);
  b.cos.resize(ang.size());
  b.sin.resize(ang.size());
  for (size_t i = 0; i < ang.size(); ++i) {
    b.cos[i] = std::cos(ang[i]);
    b.sin[i] = std::sin(ang[i] * 1.3f);
  }
  b.dcos = to_device(b.cos);
  b.dsin = to_device(b.sin);
  b.qn = upload_dense(c.wformat, random_floats(size_t(hd), c.seed + 5, 0.5f, 1.5f), 1, hd, 1, &b.qw);
  b.kn = upload_dense(c.wformat, random_floats(size_t(hd), c.seed + 6, 0.5f, 1.5f), 1, hd, 1, &b.kw);
  // Distinct, shuffled cache rows; row 1 of a multi-row step writes nothing (-1).
  std::vector<int32_t> perm(size_t(b.capacity));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  b.rows.assign(perm.begin(), perm.begin() + n);
  if (n > 1) b.rows[1] = -1;
  b.drows = to_device(b.rows);
  // The cache starts as random bits (NaNs included): untouched elements must keep them.
  b.k_cache0.resize(size_t(b.capacity * b.ld_kv));
  b.v_cache0.resize(b.k_cache0.size());
  for (auto& x : b.k_cache0) x = static_cast<uint16_t>(rng());
  for (auto& x : b.v_cache0) x = static_cast<uint16_t>(rng());
  b.dkc = to_device(b.k_cache0);
  b.dvc = to_device(b.v_cache0);
}

cudaError_t launch(const Case& c, Buffers& b, cudaStream_t stream = nullptr) {
  float* q = b.dq.get<float>() + b.qoff;
  const float* k = c.fused ? b.dq.get<float>() + b.koff : b.dk.get<float>();
  const float* v = c.fused ? b.dq.get<float>() + b.voff : b.dv.get<float>();
  return ql::gpu::launch_qk_norm_rope_cache(q, b.ldq, k, b.ldk, v, b.ldv, c.n, c.heads, c.kv_heads, c.hd, b.qn.w,
                                            b.kn.w, c.eps, b.dcos.get<float>(), b.dsin.get<float>(),
                                            b.drows.get<int32_t>(), b.dkc.get(), b.dvc.get(), b.ld_kv, stream);
}

Result check(const Case& c, Buffers& b) {
  Result r;
  const int hd = c.hd;
  const auto& hq = b.qkv_q;
  const auto& hk = c.fused ? b.qkv_q : b.qkv_k;
  const auto& hv = c.fused ? b.qkv_q : b.qkv_v;
  const auto q_out = to_host<float>(b.dq, hq.size());
  const auto kc = to_host<uint16_t>(b.dkc, b.k_cache0.size());
  const auto vc = to_host<uint16_t>(b.dvc, b.v_cache0.size());
  std::vector<float> want(static_cast<size_t>(hd));
  std::vector<double> want_d(static_cast<size_t>(hd));
  std::vector<bool> written(kc.size(), false);
  double num = 0, den = 0;
  for (int64_t i = 0; i < c.n; ++i) {
    const float* cs = b.cos.data() + i * hd;
    const float* sn = b.sin.data() + i * hd;
    for (int h = 0; h < c.heads; ++h) {
      const int64_t at = i * b.ldq + b.qoff + int64_t(h) * hd;
      ref_head_ops(hq.data() + at, b.qw.data(), cs, sn, hd, c.eps, want.data());
      ref_head_double(hq.data() + at, b.qw.data(), cs, sn, hd, c.eps, want_d.data());
      for (int d = 0; d < hd; ++d) {
        const int u = ulp_diff32(q_out[size_t(at + d)], want[size_t(d)]);
        r.worst_q_ulp = std::max(r.worst_q_ulp, u);
        r.q_inexact += u != 0;
        ++r.q_count;
        num += (want[size_t(d)] - want_d[size_t(d)]) * (want[size_t(d)] - want_d[size_t(d)]);
        den += want_d[size_t(d)] * want_d[size_t(d)];
      }
    }
    const int32_t dst = b.rows[size_t(i)];
    if (dst < 0) continue;
    for (int h = 0; h < c.kv_heads; ++h) {
      const int64_t ak = i * b.ldk + b.koff + int64_t(h) * hd, av = i * b.ldv + b.voff + int64_t(h) * hd;
      ref_head_ops(hk.data() + ak, b.kw.data(), cs, sn, hd, c.eps, want.data());
      for (int d = 0; d < hd; ++d) {
        const size_t ci = size_t(int64_t(dst) * b.ld_kv + int64_t(h) * hd + d);
        written[ci] = true;
        r.worst_k_ulp = std::max(r.worst_k_ulp, ulp_diff16(kc[ci], ql::f32_to_bf16(want[size_t(d)])));
        r.worst_v_ulp = std::max(r.worst_v_ulp, ulp_diff16(vc[ci], ql::f32_to_bf16(hv[size_t(av + d)])));
      }
    }
  }
  for (size_t i = 0; i < kc.size(); ++i)
    if (!written[i]) r.untouched_changed += (kc[i] != b.k_cache0[i]) + (vc[i] != b.v_cache0[i]);
  // q columns of other heads / padding: the fused buffer's k and v columns and the row padding unchanged.
  for (int64_t i = 0; i < c.n; ++i)
    for (int64_t col = 0; col < b.ldq; ++col) {
      const bool is_q = col >= b.qoff && col < b.qoff + int64_t(c.heads) * hd;
      if (!is_q) r.untouched_changed += std::memcmp(&q_out[size_t(i * b.ldq + col)], &hq[size_t(i * b.ldq + col)], 4) != 0;
    }
  r.ref_vs_double = std::sqrt(num / std::max(den, 1e-30));
  return r;
}

void expect_case(const Case& c, const char* what) {
  Buffers b;
  make_buffers(c, b);
  QL_GPU_ASSERT(launch(c, b));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  const Result r = check(c, b);
  EXPECT_LE(r.worst_q_ulp, 1) << what;
  EXPECT_LE(r.q_inexact, r.q_count / 1000 + 1) << what;  // 1-ulp moves are rare, not systematic
  EXPECT_LE(r.worst_k_ulp, 1) << what;
  EXPECT_LE(r.worst_v_ulp, 0) << what;  // v is only rounded: exact
  EXPECT_EQ(r.untouched_changed, 0u) << what;
  EXPECT_LT(r.ref_vs_double, 1e-5) << what;
  std::printf("%-40s q: worst %d ulp, %zu/%zu inexact; k worst %d ulp; untouched changed %zu\n", what,
              r.worst_q_ulp, r.q_inexact, r.q_count, r.worst_k_ulp, r.untouched_changed);
}

TEST(GpuQkNormRopeCache, ModelShapes) {
  for (int64_t n : {1, 3, 1000}) {
    Case c;
    c.n = n;
    c.heads = 32;
    c.kv_heads = 4;
    c.hd = 128;
    c.seed = uint32_t(n);
    const std::string what = "32/4 x128 fused qkv n=" + std::to_string(n);
    expect_case(c, what.c_str());
  }
}

TEST(GpuQkNormRopeCache, TinyShapesFormatsAndStrides) {
  struct S {
    int heads, kv, hd;
    WFormat f;
    bool fused;
  };
  const S shapes[] = {{6, 2, 8, WFormat::kF32, false},  {5, 1, 16, WFormat::kF16, true},
                      {6, 2, 16, WFormat::kBF16, false}, {2, 1, 2, WFormat::kF32, false},
                      {3, 1, 256, WFormat::kBF16, false}, {4, 2, 72, WFormat::kF16, false},
                      {1, 1, 66, WFormat::kF32, true}};
  for (const auto& s : shapes) {
    for (int64_t n : {1, 37}) {
      Case c;
      c.n = n;
      c.heads = s.heads;
      c.kv_heads = s.kv;
      c.hd = s.hd;
      c.wformat = s.f;
      c.fused = s.fused;
      c.extra_ld = 3;
      c.extra_ld_kv = 5;
      c.eps = 1e-5f;
      c.seed = uint32_t(100 + s.hd + n);
      const std::string what = std::to_string(s.heads) + "/" + std::to_string(s.kv) + " x" + std::to_string(s.hd) +
                               (s.fused ? " fused" : " strided") + " n=" + std::to_string(n);
      expect_case(c, what.c_str());
    }
  }
}

TEST(GpuQkNormRopeCache, Timing) {
  for (int64_t n : {1, 2048}) {
    const int kSets = n > 1 ? 3 : 1;  // 3 x 48 MB rotate past the 50 MB L2
    std::vector<Case> cases(static_cast<size_t>(kSets));
    std::vector<Buffers> bufs(static_cast<size_t>(kSets));
    for (int s = 0; s < kSets; ++s) {
      Case& c = cases[size_t(s)];
      c.n = n;
      c.heads = 32;
      c.kv_heads = 4;
      c.hd = 128;
      c.extra_ld_kv = 0;
      c.capacity = n + 16;
      c.seed = uint32_t(900 + s);
      make_buffers(c, bufs[size_t(s)]);
    }
    QL_GPU_ASSERT(launch(cases[0], bufs[0]));
    QL_GPU_ASSERT(cudaDeviceSynchronize());
    const Result r = check(cases[0], bufs[0]);  // correctness of the first (un-repeated) launch
    EXPECT_LE(r.worst_q_ulp, 1);
    EXPECT_LE(r.worst_k_ulp, 1);
    EXPECT_EQ(r.untouched_changed, 0u);
    cudaEvent_t e0, e1;
    QL_GPU_ASSERT(cudaEventCreate(&e0));
    QL_GPU_ASSERT(cudaEventCreate(&e1));
    for (int i = 0; i < 3; ++i) QL_GPU_ASSERT(launch(cases[size_t(i % kSets)], bufs[size_t(i % kSets)]));
    std::vector<float> t;
    for (int i = 0; i < 20; ++i) {  // q is normed again in place each run: values stay O(1)
      QL_GPU_ASSERT(cudaEventRecord(e0));
      QL_GPU_ASSERT(launch(cases[size_t(i % kSets)], bufs[size_t(i % kSets)]));
      QL_GPU_ASSERT(cudaEventRecord(e1));
      QL_GPU_ASSERT(cudaEventSynchronize(e1));
      float ms = 0;
      QL_GPU_ASSERT(cudaEventElapsedTime(&ms, e0, e1));
      t.push_back(ms);
    }
    std::sort(t.begin(), t.end());
    const float ms = t[t.size() / 2];
    // q read + written, k and v read, cos/sin read, k and v cache rows written (bf16).
    const double bytes = double(n) * (4096.0 * 4 * 2 + 512.0 * 4 * 2 + 128.0 * 4 * 2 + 512.0 * 2 * 2);
    std::printf("TIMING qk_norm_rope_cache n=%lld 32/4 x128: %.2f us, %.0f GB/s\n", static_cast<long long>(n),
                ms * 1e3, bytes / (ms * 1e-3) / 1e9);
    QL_GPU_ASSERT(cudaEventDestroy(e0));
    QL_GPU_ASSERT(cudaEventDestroy(e1));
  }
}

}  // namespace
