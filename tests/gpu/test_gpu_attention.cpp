// GPU attention (gpu/kernels/attention_{prefill,decode,segments}.cuh) against
// references in double written here: softmax(scale * q . k) . v with the causal
// rule of SeqSpan, or inside segments. K/V enter the reference as the bf16
// values the kernels read (the cache is bf16; the vision op rounds its fp32
// k/v to bf16 as it stages them), so the tolerance covers only the kernels'
// own roundings:
//   tensor-core paths (head_dim <= 128): q * scale and p are rounded to bf16
//     (relative 2^-9 each) as mma operands, fp32 accumulation: every checked
//     (row, head) vector within 2e-2 relative, all checked values together
//     within 1e-2 (the usual band for bf16 operands is 1e-3 .. 1e-2);
//   fp32 path (head_dim > 128): 1e-5.
// Cache rows no sequence may read are NaN, so any read past a range shows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "core/common/float16.h"
#include "gpu/kernels/attention_decode.cuh"
#include "gpu/kernels/attention_prefill.cuh"
#include "gpu/kernels/attention_segments.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace {

using ql::gpu::SeqSpan;
using namespace ql::gpu::test;

constexpr uint16_t kBf16NaN = 0x7fc0;

double tc_tol(int hd) { return hd <= 128 ? 1e-2 : 1e-5; }
double tc_row_tol(int hd) { return hd <= 128 ? 2e-2 : 1e-5; }

// A bf16 KV cache on the host: random rows, NaN where `readable` is false.
struct HostCache {
  int64_t rows = 0, ld = 0;
  std::vector<uint16_t> k, v;
};

HostCache make_cache(int64_t rows, int64_t ld, uint32_t seed, const std::vector<bool>& readable) {
  HostCache c;
  c.rows = rows;
  c.ld = ld;
  const auto kf = random_floats(size_t(rows * ld), seed);
  const auto vf = random_floats(size_t(rows * ld), seed + 1);
  c.k.resize(kf.size());
  c.v.resize(vf.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < ld; ++i) {
      const size_t at = size_t(r * ld + i);
      c.k[at] = readable[size_t(r)] ? ql::f32_to_bf16(kf[at]) : kBf16NaN;
      c.v[at] = readable[size_t(r)] ? ql::f32_to_bf16(vf[at]) : kBf16NaN;
    }
  return c;
}

// Attention of one (query row, head) over keys [key0, key0 + nkeys) of k/v (as double).
template <typename KV>
void ref_row(const float* q, const KV& kv_at, int64_t key0, int64_t nkeys, int hd, double scale, double* out) {
  std::vector<double> s(size_t(std::max<int64_t>(nkeys, 0)));
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < nkeys; ++j) {
    double dot = 0;
    for (int d = 0; d < hd; ++d) dot += double(q[d]) * kv_at(false, key0 + j, d);
    s[size_t(j)] = dot * scale;
    mx = std::max(mx, s[size_t(j)]);
  }
  double sum = 0;
  for (auto& x : s) sum += x = std::exp(x - mx);
  for (int d = 0; d < hd; ++d) {
    double acc = 0;
    for (int64_t j = 0; j < nkeys; ++j) acc += s[size_t(j)] * kv_at(true, key0 + j, d);
    out[d] = nkeys > 0 ? acc / sum : 0.0;
  }
}

struct Checked {
  double global = 0, worst_row = 0;
  size_t rows = 0;
};

// Compares (row, head) vectors; `want` holds hd doubles per checked pair.
struct Comparer {
  double num = 0, den = 0, worst = 0;
  size_t rows = 0;
  void add(const float* got, const double* want, int hd) {
    double n = 0, d = 0;
    for (int i = 0; i < hd; ++i) {
      const double e = double(got[i]) - want[i];
      n += e * e;
      d += want[i] * want[i];
    }
    num += n;
    den += d;
    const double rel = std::isnan(n) ? std::numeric_limits<double>::infinity() : std::sqrt(n / std::max(d, 1e-30));
    worst = std::max(worst, rel);
    ++rows;
  }
  Checked result() const {
    Checked c;
    c.global = std::isnan(num) ? std::numeric_limits<double>::infinity() : std::sqrt(num / std::max(den, 1e-30));
    c.worst_row = worst;
    c.rows = rows;
    return c;
  }
};

// ------------------------------------------------------------------ prefill

struct PrefillCase {
  std::vector<SeqSpan> spans;
  int heads, kv_heads, hd;
  float scale;
  int64_t extra_ldq = 0, extra_ldo = 0, extra_ldkv = 0;
  int row_stride = 1;  // check every row_stride-th query of a sequence (and its last 3)
  uint32_t seed = 1;
};

struct PrefillRun {
  std::vector<float> out;
  Checked check;
  size_t unwritten = 0, overwritten = 0;
};

void run_prefill(const PrefillCase& pc, PrefillRun& res, bool check_ref = true, std::vector<float>* out_again = nullptr) {
  const int heads = pc.heads, kvh = pc.kv_heads, hd = pc.hd;
  int64_t total_q = 0, cache_rows = 0;
  int max_q = 0;
  for (const auto& s : pc.spans) {
    total_q = std::max<int64_t>(total_q, s.q_start + s.q_count);
    cache_rows = std::max<int64_t>(cache_rows, int64_t(s.key_start) + s.key_count);
    max_q = std::max(max_q, s.q_count);
  }
  cache_rows += 5;  // NaN rows after the last range
  const int64_t ldq = int64_t(heads) * hd + pc.extra_ldq, ldo = int64_t(heads) * hd + pc.extra_ldo;
  const int64_t ld_kv = int64_t(kvh) * hd + pc.extra_ldkv;
  std::vector<bool> readable(size_t(cache_rows), false), has_q(size_t(total_q), false);
  for (const auto& s : pc.spans) {
    for (int j = 0; j < s.key_count; ++j) readable[size_t(s.key_start + j)] = true;
    for (int t = 0; t < s.q_count; ++t) has_q[size_t(s.q_start + t)] = true;
  }
  const HostCache cache = make_cache(cache_rows, ld_kv, pc.seed, readable);
  const auto q = random_floats(size_t(total_q * ldq), pc.seed + 7);

  DeviceBuffer dq = to_device(q), dk = to_device(cache.k), dv = to_device(cache.v), dspans = to_device(pc.spans);
  DeviceBuffer dout(size_t(total_q * ldo) * sizeof(float));
  poison_f32(dout);
  QL_GPU_ASSERT(ql::gpu::launch_attention_prefill(dq.get<float>(), ldq, dk.get(), dv.get(), ld_kv,
                                                  dspans.get<SeqSpan>(), int(pc.spans.size()), total_q, max_q, heads,
                                                  kvh, hd, pc.scale, dout.get<float>(), ldo, nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  res.out = to_host<float>(dout, size_t(total_q * ldo));
  if (out_again) {
    poison_f32(dout);
    QL_GPU_ASSERT(ql::gpu::launch_attention_prefill(dq.get<float>(), ldq, dk.get(), dv.get(), ld_kv,
                                                    dspans.get<SeqSpan>(), int(pc.spans.size()), total_q, max_q,
                                                    heads, kvh, hd, pc.scale, dout.get<float>(), ldo, nullptr));
    QL_GPU_ASSERT(cudaDeviceSynchronize());
    *out_again = to_host<float>(dout, size_t(total_q * ldo));
  }

  // Every query element written, nothing else (padding columns and rows no span owns stay NaN).
  for (int64_t r = 0; r < total_q; ++r)
    for (int64_t i = 0; i < ldo; ++i) {
      const bool nan = std::isnan(res.out[size_t(r * ldo + i)]);
      if (has_q[size_t(r)] && i < int64_t(heads) * hd) res.unwritten += nan;
      else res.overwritten += !nan;
    }
  if (!check_ref) return;
  auto kv_at = [&](bool is_v, int64_t row, int d, int kv_head) {
    const auto& src = is_v ? cache.v : cache.k;
    return double(ql::bf16_to_f32(src[size_t(row * ld_kv + int64_t(kv_head) * hd + d)]));
  };
  Comparer cmp;
  std::vector<double> want(static_cast<size_t>(hd));
  for (const auto& s : pc.spans)
    for (int t = 0; t < s.q_count; ++t) {
      if (t % pc.row_stride != 0 && t < s.q_count - 3) continue;
      const int64_t row = s.q_start + t;
      const int64_t nkeys = int64_t(s.key_count) - s.q_count + t + 1;
      for (int h = 0; h < heads; ++h) {
        const int kv_head = h / (heads / kvh);
        auto at = [&](bool is_v, int64_t r, int d) { return kv_at(is_v, r, d, kv_head); };
        ref_row(q.data() + row * ldq + int64_t(h) * hd, at, s.key_start, nkeys, hd, pc.scale, want.data());
        cmp.add(res.out.data() + row * ldo + int64_t(h) * hd, want.data(), hd);
      }
    }
  res.check = cmp.result();
}

void expect_prefill(const PrefillCase& pc, const char* what) {
  PrefillRun r;
  run_prefill(pc, r);
  EXPECT_EQ(r.unwritten, 0u) << what;
  EXPECT_EQ(r.overwritten, 0u) << what;
  EXPECT_LT(r.check.global, tc_tol(pc.hd)) << what;
  EXPECT_LT(r.check.worst_row, tc_row_tol(pc.hd)) << what;
  std::printf("%-44s rows %6zu  rel %.2e  worst row %.2e\n", what, r.check.rows, r.check.global, r.check.worst_row);
}

TEST(GpuAttentionPrefill, OneSequenceWithPastKeys) {
  const float scale = 1.0f / std::sqrt(128.0f);
  for (int q_count : {1, 3, 100, 1000}) {
    PrefillCase pc;
    pc.spans = {{0, q_count, 11, 37 + q_count}};  // 37 past keys, cache rows from 11
    pc.heads = 32;
    pc.kv_heads = 4;
    pc.hd = 128;
    pc.scale = scale;
    pc.row_stride = q_count >= 1000 ? 5 : 1;  // 5 is prime to the 16-row warp tiles: every lane row is checked
    pc.seed = 100 + q_count;
    const std::string what = "prefill 32/4 x128 q=" + std::to_string(q_count) + " past=37";
    expect_prefill(pc, what.c_str());
  }
}

TEST(GpuAttentionPrefill, NoPastAndPeakySoftmax) {
  PrefillCase pc;
  pc.spans = {{0, 130, 0, 130}};
  pc.heads = 32;
  pc.kv_heads = 4;
  pc.hd = 128;
  pc.scale = 1.0f;  // scores of a few units: sharp rows
  pc.seed = 5;
  expect_prefill(pc, "prefill 32/4 x128 q=130 scale 1");
}

TEST(GpuAttentionPrefill, TwoSequencesDifferentKeyStarts) {
  PrefillCase pc;
  pc.spans = {{0, 70, 1000, 100}, {70, 33, 5, 33}, {103, 1, 300, 65}};
  pc.heads = 32;
  pc.kv_heads = 4;
  pc.hd = 128;
  pc.scale = 0.088f;
  pc.extra_ldq = 4;
  pc.extra_ldo = 8;
  pc.seed = 7;
  expect_prefill(pc, "prefill 3 seqs 32/4 x128 strided q/out");
}

TEST(GpuAttentionPrefill, HeadDimsAndGroups) {
  struct Shape {
    int heads, kv, hd;
  };
  const Shape shapes[] = {{32, 4, 128}, {6, 2, 8}, {5, 1, 16}, {4, 2, 72}, {6, 2, 16}, {5, 1, 8},
                          {4, 2, 100}, {4, 4, 40}, {4, 2, 256}, {3, 1, 130}};
  for (const auto& sh : shapes) {
    PrefillCase pc;
    pc.spans = {{0, 77, 3, 90}, {77, 19, 200, 19}};
    pc.heads = sh.heads;
    pc.kv_heads = sh.kv;
    pc.hd = sh.hd;
    pc.scale = 1.0f / std::sqrt(float(sh.hd));
    pc.seed = 11 + sh.hd;
    const std::string what = "prefill " + std::to_string(sh.heads) + "/" + std::to_string(sh.kv) + " x" +
                             std::to_string(sh.hd);
    expect_prefill(pc, what.c_str());
  }
}

TEST(GpuAttentionPrefill, UnalignedCacheRowsTakeScalarStaging) {
  PrefillCase pc;
  pc.spans = {{0, 45, 2, 60}};
  pc.heads = 8;
  pc.kv_heads = 2;
  pc.hd = 128;
  pc.extra_ldkv = 3;  // rows not 16-byte aligned
  pc.scale = 0.09f;
  pc.seed = 21;
  expect_prefill(pc, "prefill 8/2 x128 ld_kv odd");
  pc.hd = 16;
  pc.extra_ldkv = 1;
  pc.scale = 0.25f;
  expect_prefill(pc, "prefill 8/2 x16 ld_kv odd");
}

TEST(GpuAttentionPrefill, BitwiseDeterministic) {
  PrefillCase pc;
  pc.spans = {{0, 200, 0, 260}};
  pc.heads = 8;
  pc.kv_heads = 2;
  pc.hd = 128;
  pc.scale = 0.09f;
  PrefillRun r;
  std::vector<float> again;
  run_prefill(pc, r, false, &again);
  ASSERT_EQ(r.out.size(), again.size());
  EXPECT_EQ(std::memcmp(r.out.data(), again.data(), again.size() * sizeof(float)), 0);
}

// ------------------------------------------------------------------ decode

struct DecodeCase {
  std::vector<int> key_counts;  // one sequence each; sequence s owns cache rows [s * max_keys, ...)
  int64_t max_keys;
  int heads, kv_heads, hd;
  float scale;
  uint32_t seed = 1;
};

struct DecodeSetup {
  int64_t ld_kv = 0, ldq = 0;
  std::vector<SeqSpan> spans;
  HostCache cache;
  std::vector<float> q;
  DeviceBuffer dq, dk, dv, dspans, dout, scratch;
};

void setup_decode(const DecodeCase& dc, DecodeSetup& st) {
  const int n = int(dc.key_counts.size());
  st.ld_kv = int64_t(dc.kv_heads) * dc.hd;
  st.ldq = int64_t(dc.heads) * dc.hd;
  const int64_t rows = int64_t(n) * dc.max_keys;
  std::vector<bool> readable(size_t(rows), false);
  for (int s = 0; s < n; ++s) {
    const int32_t start = int32_t(s * dc.max_keys);
    st.spans.push_back({s, 1, start, dc.key_counts[size_t(s)]});
    for (int j = 0; j < dc.key_counts[size_t(s)]; ++j) readable[size_t(start + j)] = true;
  }
  st.cache = make_cache(rows, st.ld_kv, dc.seed, readable);  // rows past each key_count: NaN
  st.q = random_floats(size_t(n * st.ldq), dc.seed + 3);
  st.dq = to_device(st.q);
  st.dk = to_device(st.cache.k);
  st.dv = to_device(st.cache.v);
  st.dspans = to_device(st.spans);
  st.dout = DeviceBuffer(size_t(n * st.ldq) * sizeof(float));
  st.scratch = DeviceBuffer(ql::gpu::attention_decode_scratch_bytes(n, dc.heads, dc.hd, dc.max_keys));
}

cudaError_t launch_decode(const DecodeCase& dc, const DecodeSetup& st, cudaStream_t stream) {
  return ql::gpu::launch_attention_decode(st.dq.get<float>(), st.ldq, st.dk.get(), st.dv.get(), st.ld_kv,
                                          st.dspans.get<SeqSpan>(), int(st.spans.size()), dc.max_keys, dc.heads,
                                          dc.kv_heads, dc.hd, dc.scale, st.scratch.get(), st.dout.get<float>(),
                                          st.ldq, stream);
}

Checked check_decode(const DecodeCase& dc, const DecodeSetup& st, const std::vector<float>& out) {
  const int hd = dc.hd;
  Comparer cmp;
  std::vector<double> want(static_cast<size_t>(hd));
  for (size_t s = 0; s < st.spans.size(); ++s)
    for (int h = 0; h < dc.heads; ++h) {
      const int kv_head = h / (dc.heads / dc.kv_heads);
      auto at = [&](bool is_v, int64_t r, int d) {
        const auto& src = is_v ? st.cache.v : st.cache.k;
        return double(ql::bf16_to_f32(src[size_t(r * st.ld_kv + int64_t(kv_head) * hd + d)]));
      };
      ref_row(st.q.data() + int64_t(s) * st.ldq + int64_t(h) * hd, at, st.spans[s].key_start,
              st.spans[s].key_count, hd, dc.scale, want.data());
      cmp.add(out.data() + int64_t(s) * st.ldq + int64_t(h) * hd, want.data(), hd);
    }
  return cmp.result();
}

void expect_decode(const DecodeCase& dc, const char* what) {
  DecodeSetup st;
  setup_decode(dc, st);
  poison_f32(st.dout);
  QL_GPU_ASSERT(launch_decode(dc, st, nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  const auto out = to_host<float>(st.dout, st.spans.size() * size_t(st.ldq));
  EXPECT_EQ(count_nan(out), 0u) << what;
  const Checked c = check_decode(dc, st, out);
  EXPECT_LT(c.global, tc_tol(dc.hd)) << what;
  EXPECT_LT(c.worst_row, tc_row_tol(dc.hd)) << what;
  std::printf("%-44s rows %6zu  rel %.2e  worst row %.2e\n", what, c.rows, c.global, c.worst_row);
}

TEST(GpuAttentionDecode, KeyCountsInOneLaunchNaNPastTheKeys) {
  DecodeCase dc;
  dc.key_counts = {1, 37, 5000, 128, 129};
  dc.max_keys = 8192;
  dc.heads = 32;
  dc.kv_heads = 4;
  dc.hd = 128;
  dc.scale = 1.0f / std::sqrt(128.0f);
  expect_decode(dc, "decode 32/4 x128 keys 1,37,5000,128,129");
}

TEST(GpuAttentionDecode, HeadDimsAndGroups) {
  struct Shape {
    int heads, kv, hd;
  };
  const Shape shapes[] = {{6, 2, 8}, {5, 1, 16}, {4, 2, 72}, {6, 2, 16}, {48, 2, 64},
                          {4, 2, 100}, {4, 2, 256}, {3, 3, 40}};
  for (const auto& sh : shapes) {
    DecodeCase dc;
    dc.key_counts = {1, 37, 300};
    dc.max_keys = 1000;  // not a multiple of the 128-key chunk
    dc.heads = sh.heads;
    dc.kv_heads = sh.kv;
    dc.hd = sh.hd;
    dc.scale = 1.0f / std::sqrt(float(sh.hd));
    dc.seed = 50 + sh.hd;
    const std::string what = "decode " + std::to_string(sh.heads) + "/" + std::to_string(sh.kv) + " x" +
                             std::to_string(sh.hd);
    expect_decode(dc, what.c_str());
  }
}

// One capture, replays after the key counts change on the device (the decode loop's use).
TEST(GpuAttentionDecode, GraphReplayFollowsDeviceKeyCounts) {
  DecodeCase dc;
  dc.key_counts = {5000, 300};  // readable rows; the replays use fewer
  dc.max_keys = 8192;
  dc.heads = 32;
  dc.kv_heads = 4;
  dc.hd = 128;
  dc.scale = 0.088f;
  DecodeSetup st;
  setup_decode(dc, st);
  cudaStream_t stream;
  QL_GPU_ASSERT(cudaStreamCreate(&stream));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  QL_GPU_ASSERT(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  QL_GPU_ASSERT(launch_decode(dc, st, stream));
  QL_GPU_ASSERT(cudaStreamEndCapture(stream, &graph));
  QL_GPU_ASSERT(cudaGraphInstantiate(&exec, graph, 0));
  for (int step = 0; step < 3; ++step) {
    if (step > 0) {  // other key counts: the (readable) rows past them must be ignored
      st.spans[0].key_count = step == 1 ? 37 : 4097;
      st.spans[1].key_count = step == 1 ? 0 : 129;  // 0 keys: zeros
      QL_GPU_ASSERT(cudaMemcpy(st.dspans.get(), st.spans.data(), st.spans.size() * sizeof(SeqSpan),
                               cudaMemcpyHostToDevice));
    }
    poison_f32(st.dout);
    QL_GPU_ASSERT(cudaGraphLaunch(exec, stream));
    QL_GPU_ASSERT(cudaStreamSynchronize(stream));
    const auto out = to_host<float>(st.dout, st.spans.size() * size_t(st.ldq));
    EXPECT_EQ(count_nan(out), 0u) << "step " << step;
    const Checked c = check_decode(dc, st, out);
    EXPECT_LT(c.global, 1e-2) << "step " << step;
    EXPECT_LT(c.worst_row, 2e-2) << "step " << step;
  }
  QL_GPU_ASSERT(cudaGraphExecDestroy(exec));
  QL_GPU_ASSERT(cudaGraphDestroy(graph));
  QL_GPU_ASSERT(cudaStreamDestroy(stream));
}

// ------------------------------------------------------------------ segments

// Median of `runs` event-timed calls of launch(i) on `stream`, after `warmup` calls.
template <typename F>
float median_ms(F&& launch, cudaStream_t stream = nullptr, int runs = 20, int warmup = 3) {
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  for (int i = 0; i < warmup; ++i) launch(i);
  std::vector<float> t;
  for (int i = 0; i < runs; ++i) {
    cudaEventRecord(e0, stream);
    launch(i);
    cudaEventRecord(e1, stream);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    t.push_back(ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}


struct SegCase {
  std::vector<int32_t> lengths;
  int heads, hd;
  float scale;
  int64_t extra_ld = 0;
  int row_stride = 1;
  uint32_t seed = 1;
};

struct SegRun {
  Checked check;
  size_t unwritten = 0;
  float ms = 0;  // median time when timed
};

void run_segments(const SegCase& sc, SegRun& res, int timed_runs = 0) {
  std::vector<int32_t> seg{0};
  int64_t max_len = 0;
  for (int32_t len : sc.lengths) {
    seg.push_back(seg.back() + len);
    max_len = std::max<int64_t>(max_len, len);
  }
  const int64_t N = seg.back();
  const int hd = sc.hd, heads = sc.heads;
  const int64_t ld = int64_t(heads) * hd + sc.extra_ld;
  const auto q = random_floats(size_t(N * ld), sc.seed);
  const auto k = random_floats(size_t(N * ld), sc.seed + 1);
  const auto v = random_floats(size_t(N * ld), sc.seed + 2);
  DeviceBuffer dq = to_device(q), dk = to_device(k), dv = to_device(v), dseg = to_device(seg);
  DeviceBuffer dout(size_t(N * ld) * sizeof(float));
  poison_f32(dout);
  auto launch = [&] {
    return ql::gpu::launch_attention_segments(dq.get<float>(), dk.get<float>(), dv.get<float>(), ld, N,
                                              dseg.get<int32_t>(), int(sc.lengths.size()), max_len, heads, hd,
                                              sc.scale, dout.get<float>(), ld, nullptr);
  };
  QL_GPU_ASSERT(launch());
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  const auto out = to_host<float>(dout, size_t(N * ld));
  for (int64_t r = 0; r < N; ++r)
    for (int64_t i = 0; i < int64_t(heads) * hd; ++i) res.unwritten += std::isnan(out[size_t(r * ld + i)]);

  // Reference: k/v as the kernel stages them (bf16) on the tensor-core path, fp32 otherwise.
  const bool tc = hd <= 128;
  auto kv_at = [&](bool is_v, int64_t row, int d, int head) {
    const float x = (is_v ? v : k)[size_t(row * ld + int64_t(head) * hd + d)];
    return tc ? double(ql::bf16_to_f32(ql::f32_to_bf16(x))) : double(x);
  };
  Comparer cmp;
  std::vector<double> want(static_cast<size_t>(hd));
  for (size_t s = 0; s + 1 < seg.size(); ++s)
    for (int32_t t = 0; t < seg[s + 1] - seg[s]; ++t) {
      if (t % sc.row_stride != 0 && t < seg[s + 1] - seg[s] - 3) continue;
      const int64_t row = seg[s] + t;
      for (int h = 0; h < heads; ++h) {
        auto at = [&](bool is_v, int64_t r, int d) { return kv_at(is_v, r, d, h); };
        ref_row(q.data() + row * ld + int64_t(h) * hd, at, seg[s], seg[s + 1] - seg[s], hd, sc.scale, want.data());
        cmp.add(out.data() + row * ld + int64_t(h) * hd, want.data(), hd);
      }
    }
  res.check = cmp.result();

  if (timed_runs > 0) {
    res.ms = median_ms([&](int) { (void)launch(); }, nullptr, timed_runs);
    QL_GPU_ASSERT(cudaGetLastError());
  }
}

void expect_segments(const SegCase& sc, const char* what) {
  SegRun r;
  run_segments(sc, r);
  EXPECT_EQ(r.unwritten, 0u) << what;
  EXPECT_LT(r.check.global, tc_tol(sc.hd)) << what;
  EXPECT_LT(r.check.worst_row, tc_row_tol(sc.hd)) << what;
  std::printf("%-44s rows %6zu  rel %.2e  worst row %.2e\n", what, r.check.rows, r.check.global, r.check.worst_row);
}

TEST(GpuAttentionSegments, OneSegmentOf4096) {
  SegCase sc;
  sc.lengths = {4096};
  sc.heads = 16;
  sc.hd = 72;
  sc.scale = 1.0f / std::sqrt(72.0f);
  sc.row_stride = 37;  // prime to the tile sizes
  expect_segments(sc, "segments {4096} 16 x72");
}

TEST(GpuAttentionSegments, SeveralSegmentsAndHeadDims) {
  for (int hd : {8, 16, 72, 128, 100, 256}) {
    SegCase sc;
    sc.lengths = {64, 256, 17};
    sc.heads = hd >= 128 ? 3 : 5;
    sc.hd = hd;
    sc.scale = 1.0f / std::sqrt(float(hd));
    sc.seed = 30 + hd;
    const std::string what = "segments {64,256,17} " + std::to_string(sc.heads) + " x" + std::to_string(hd);
    expect_segments(sc, what.c_str());
  }
}

TEST(GpuAttentionSegments, SingleRowSegments) {
  SegCase sc;
  sc.lengths = std::vector<int32_t>(40, 1);
  sc.lengths.push_back(3);
  sc.lengths.push_back(1);
  sc.heads = 4;
  sc.hd = 16;
  sc.scale = 0.25f;
  expect_segments(sc, "segments 40 x {1}, {3}, {1}  4 x16");
}

TEST(GpuAttentionSegments, UnalignedRowsAndEmptySegment) {
  SegCase sc;
  sc.lengths = {33, 0, 70};
  sc.heads = 3;
  sc.hd = 72;
  sc.extra_ld = 1;  // float4 loads not legal: scalar staging
  sc.scale = 0.12f;
  expect_segments(sc, "segments {33,0,70} 3 x72 ld odd");
}

// ------------------------------------------------------------------ timing

// Vision tower: 27 blocks of full attention over one 4096-row segment, 16 heads of 72.
TEST(GpuAttentionSegments, VisionTiming) {
  SegCase sc;
  sc.lengths = {4096};
  sc.heads = 16;
  sc.hd = 72;
  sc.scale = 1.0f / std::sqrt(72.0f);
  sc.row_stride = 61;
  SegRun r;
  run_segments(sc, r, 20);  // q, k, v, out: 75 MB, past the 50 MB L2
  EXPECT_EQ(r.unwritten, 0u);
  EXPECT_LT(r.check.global, 1e-2);
  EXPECT_LT(r.check.worst_row, 2e-2);
  const double flop = 4.0 * 4096.0 * 4096.0 * 72.0 * 16.0;  // q.k and p.v, real head_dim
  std::printf("TIMING attention_segments vision N=4096 16x72: %.3f ms per block, %.1f TFLOP/s, x27 blocks %.2f ms\n",
              r.ms, flop / (r.ms * 1e-3) / 1e12, 27.0 * r.ms);
}

TEST(GpuAttentionPrefill, Timing) {
  for (int n : {512, 2048}) {
    const int heads = 32, kvh = 4, hd = 128;
    const std::vector<SeqSpan> spans{{0, n, 0, n}};
    const int64_t ldq = int64_t(heads) * hd, ld_kv = int64_t(kvh) * hd;
    std::vector<bool> readable(size_t(n), true);
    const HostCache cache = make_cache(n, ld_kv, 77, readable);
    const auto q = random_floats(size_t(n * ldq), 78);
    DeviceBuffer dq = to_device(q), dk = to_device(cache.k), dv = to_device(cache.v), ds = to_device(spans);
    DeviceBuffer dout(size_t(n * ldq) * sizeof(float));
    poison_f32(dout);
    const float scale = 1.0f / std::sqrt(128.0f);
    auto launch = [&](int) {
      return ql::gpu::launch_attention_prefill(dq.get<float>(), ldq, dk.get(), dv.get(), ld_kv, ds.get<SeqSpan>(), 1,
                                               n, n, heads, kvh, hd, scale, dout.get<float>(), ldq, nullptr);
    };
    QL_GPU_ASSERT(launch(0));
    QL_GPU_ASSERT(cudaDeviceSynchronize());
    const auto out = to_host<float>(dout, size_t(n * ldq));
    EXPECT_EQ(count_nan(out), 0u);
    Comparer cmp;  // spot check: every 97th query, all heads
    std::vector<double> want(static_cast<size_t>(hd));
    for (int t = 0; t < n; t += 97)
      for (int h = 0; h < heads; ++h) {
        auto at = [&](bool is_v, int64_t r, int d) {
          return double(ql::bf16_to_f32((is_v ? cache.v : cache.k)[size_t(r * ld_kv + (h / 8) * hd + d)]));
        };
        ref_row(q.data() + int64_t(t) * ldq + h * hd, at, 0, t + 1, hd, scale, want.data());
        cmp.add(out.data() + int64_t(t) * ldq + h * hd, want.data(), hd);
      }
    EXPECT_LT(cmp.result().global, 1e-2);
    const float ms = median_ms([&](int i) { (void)launch(i); });
    QL_GPU_ASSERT(cudaGetLastError());
    const double flop = 4.0 * hd * heads * (double(n) * (n + 1) / 2.0);
    std::printf("TIMING attention_prefill q=%d 32/4 x128 causal: %.3f ms, %.1f TFLOP/s\n", n, ms,
                flop / (ms * 1e-3) / 1e12);
  }
}

// Decode, one sequence, captured in a graph of 8 launches that rotate over 8 cache regions
// (8 x 16.8 MB, past the L2), as the decode loop replays it.
TEST(GpuAttentionDecode, Timing) {
  const int heads = 32, kvh = 4, hd = 128, kRot = 8;
  const int64_t max_keys = 8192, ld_kv = int64_t(kvh) * hd;
  std::vector<bool> readable(size_t(kRot * max_keys), true);
  const HostCache cache = make_cache(kRot * max_keys, ld_kv, 91, readable);
  DeviceBuffer dk = to_device(cache.k), dv = to_device(cache.v);
  const auto q = random_floats(size_t(heads * hd), 92);
  DeviceBuffer dq = to_device(q);
  DeviceBuffer dout(size_t(heads * hd) * sizeof(float));
  DeviceBuffer scratch(ql::gpu::attention_decode_scratch_bytes(1, heads, hd, max_keys));
  const float scale = 1.0f / std::sqrt(128.0f);
  for (int keys : {1024, 8192}) {
    std::vector<SeqSpan> spans;
    for (int r = 0; r < kRot; ++r) spans.push_back({0, 1, int32_t(r * max_keys), keys});
    DeviceBuffer ds = to_device(spans);
    cudaStream_t stream;
    QL_GPU_ASSERT(cudaStreamCreate(&stream));
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    QL_GPU_ASSERT(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
    for (int r = 0; r < kRot; ++r)
      QL_GPU_ASSERT(ql::gpu::launch_attention_decode(dq.get<float>(), heads * hd, dk.get(), dv.get(), ld_kv,
                                                     ds.get<SeqSpan>() + r, 1, max_keys, heads, kvh, hd, scale,
                                                     scratch.get(), dout.get<float>(), heads * hd, stream));
    QL_GPU_ASSERT(cudaStreamEndCapture(stream, &graph));
    QL_GPU_ASSERT(cudaGraphInstantiate(&exec, graph, 0));
    poison_f32(dout);
    QL_GPU_ASSERT(cudaGraphLaunch(exec, stream));
    QL_GPU_ASSERT(cudaStreamSynchronize(stream));
    const auto out = to_host<float>(dout, size_t(heads * hd));  // the last launch: region kRot - 1
    EXPECT_EQ(count_nan(out), 0u);
    Comparer cmp;
    std::vector<double> want(static_cast<size_t>(hd));
    for (int h = 0; h < heads; ++h) {
      auto at = [&](bool is_v, int64_t r, int d) {
        return double(ql::bf16_to_f32((is_v ? cache.v : cache.k)[size_t(r * ld_kv + (h / 8) * hd + d)]));
      };
      ref_row(q.data() + h * hd, at, (kRot - 1) * max_keys, keys, hd, scale, want.data());
      cmp.add(out.data() + h * hd, want.data(), hd);
    }
    EXPECT_LT(cmp.result().global, 1e-2);
    const float ms = median_ms([&](int) { cudaGraphLaunch(exec, stream); }, stream) / kRot;
    QL_GPU_ASSERT(cudaGetLastError());
    const double bytes = double(keys) * ld_kv * 2.0 * 2.0;  // K and V, bf16
    std::printf("TIMING attention_decode keys=%d (max_keys %lld) 32/4 x128: %.2f us per step, %.0f GB/s of KV\n", keys,
                static_cast<long long>(max_keys), ms * 1e3, bytes / (ms * 1e-3) / 1e9);
    QL_GPU_ASSERT(cudaGraphExecDestroy(exec));
    QL_GPU_ASSERT(cudaGraphDestroy(graph));
    QL_GPU_ASSERT(cudaStreamDestroy(stream));
  }
}

}  // namespace
