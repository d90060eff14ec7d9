// GPU grouped GEMM (gpu/kernels/grouped_gemm.cuh): every weight format, MoE
// group sizes (0, 1, 31, 64, 65, 100 rows), tiny-model shapes, one quantized
// dense weight (groups = 1), and the real Qwen3-VL-30B-A3B expert shapes.
// Reference: core/quant's decoded weights (decode_rows) rounded to bf16 (f16
// weights: f16) times x rounded the same way, in double, so the tolerance
// only covers fp32 accumulation order (and expf in swiglu).
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "core/common/float16.h"
#include "core/quant/int8_rowwise.h"
#include "core/quant/nf4.h"
#include "core/quant/source_tensor.h"
#include "gpu/kernels/grouped_gemm.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace {

using ql::gpu::DeviceWeight;
using ql::gpu::WFormat;
using namespace ql::gpu::test;

// Per element: |got - want| <= kElemTol * (sum over k of |x_k w_k|) (for
// swiglu, the same bound carried through silu(g) * u). The tensor cores add
// exact products into the fp32 accumulator once per k16 block, each add off by
// at most ~2^-23 of the running sum (they truncate), so K / 16 adds stay below
// 3.2e-5 of that sum even at K = 4304 and 1e-4 has room; a single wrong weight
// element (~|x w| / sum ~ 1e-2..1e-3) still fails it. Norm-wise ~1e-4 too.
constexpr double kElemTol = 1e-4;
constexpr double kNormTol = 1e-4;

float mma_round(WFormat f, float v) {
  return f == WFormat::kF16 ? ql::f16_to_f32(ql::f32_to_f16(v)) : ql::bf16_to_f32(ql::f32_to_bf16(v));
}

// A weight on the device and the values its products use: decoded exactly as
// the CPU decodes them, rounded to the MMA type. [stack][stored_rows][cols].
struct Built {
  TestWeight tw;
  std::vector<float> mma;
  WFormat format = WFormat::kBF16;
};

void build(WFormat f, int64_t stack, int64_t rows, int64_t cols, uint32_t seed, Built* out) {
  const std::vector<float> vals = random_floats(static_cast<size_t>(stack * rows * cols), seed);
  const int64_t per = rows * cols;
  out->format = f;
  out->mma.assign(vals.size(), 0.0f);
  if (f == WFormat::kF32 || f == WFormat::kBF16 || f == WFormat::kF16) {
    out->tw = upload_dense(f, vals, rows, cols, stack, &out->mma);
  } else if (f == WFormat::kInt8) {
    std::vector<ql::quant::Int8RowwiseWeight> q;
    for (int64_t e = 0; e < stack; ++e) {
      auto r = ql::quant::quantize_int8_rowwise(ql::quant::SourceTensor::f32("w", vals.data() + e * per, rows, cols));
      ASSERT_TRUE(r.ok()) << r.message();
      q.push_back(std::move(*r));
      ql::quant::decode_rows(q.back(), 0, rows, out->mma.data() + e * per);
    }
    out->tw = upload_int8(q);
  } else {
    std::vector<ql::quant::Nf4Weight> q;
    for (int64_t e = 0; e < stack; ++e) {
      auto r = ql::quant::quantize_nf4(ql::quant::SourceTensor::f32("w", vals.data() + e * per, rows, cols));
      ASSERT_TRUE(r.ok()) << r.message();
      q.push_back(std::move(*r));
      ql::quant::decode_rows(q.back(), 0, rows, out->mma.data() + e * per);
    }
    out->tw = upload_nf4(q);
  }
  for (float& v : out->mma) v = mma_round(f, v);
}

struct Routing {
  std::vector<int32_t> offsets;  // [groups + 1]
  std::vector<int32_t> rows;     // [total]
  int64_t max_rows = 0;
  int64_t total() const { return offsets.back(); }
  int64_t groups() const { return static_cast<int64_t>(offsets.size()) - 1; }
};

Routing from_sizes(const std::vector<int>& sizes, int64_t tokens, uint32_t seed) {
  std::mt19937 rng(seed);
  Routing r;
  r.offsets.push_back(0);
  for (int s : sizes) {
    r.offsets.push_back(r.offsets.back() + s);
    r.max_rows = std::max<int64_t>(r.max_rows, s);
    for (int i = 0; i < s; ++i) r.rows.push_back(static_cast<int32_t>(rng() % tokens));
  }
  return r;
}

// Each token picks top_k distinct experts; pairs grouped by expert in (token, slot) order.
Routing from_topk(int64_t tokens, int top_k, int experts, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> by_expert(experts);
  std::vector<int> perm(experts);
  for (int64_t t = 0; t < tokens; ++t) {
    std::iota(perm.begin(), perm.end(), 0);
    for (int s = 0; s < top_k; ++s) {
      std::swap(perm[s], perm[s + rng() % (experts - s)]);
      by_expert[perm[s]].push_back(static_cast<int32_t>(t));
    }
  }
  Routing r;
  r.offsets.push_back(0);
  for (auto& v : by_expert) {
    std::sort(v.begin(), v.end());
    r.rows.insert(r.rows.end(), v.begin(), v.end());
    r.offsets.push_back(static_cast<int32_t>(r.rows.size()));
    r.max_rows = std::max<int64_t>(r.max_rows, static_cast<int64_t>(v.size()));
  }
  return r;
}

struct RunOpts {
  bool swiglu = false;
  bool pass_rows = true;    // false: rows == nullptr (rows[p] = p)
  int64_t ldx_pad = 0;
  int64_t x_offset = 0;     // floats before x (misaligned x: the generic path)
  int64_t ldy_pad = 0;
  int64_t max_rows = -1;    // -1: total pairs
};

// Runs the kernel; returns y [total, ldy] (padding left NaN) and x as uploaded
// (o.x_offset floats, then x_rows rows of ldx). x_in: the rows to use (else random).
void launch(const DeviceWeight& w, const Routing& rt, int64_t x_rows, const RunOpts& o, uint32_t seed,
            std::vector<float>* x_out, std::vector<float>* y_out, int64_t* ldx_out, int64_t* ldy_out,
            const std::vector<float>* x_in = nullptr) {
  const int64_t K = w.cols;
  const int64_t out_cols = o.swiglu ? w.rows / 2 : w.rows;
  const int64_t ldx = K + o.ldx_pad, ldy = out_cols + o.ldy_pad;
  const std::vector<float> rows_x = x_in ? *x_in : random_floats(static_cast<size_t>(x_rows * ldx), seed);
  ASSERT_EQ(rows_x.size(), static_cast<size_t>(x_rows * ldx));
  x_out->assign(static_cast<size_t>(o.x_offset), 0.0f);
  x_out->insert(x_out->end(), rows_x.begin(), rows_x.end());
  DeviceBuffer xd = to_device(*x_out);
  DeviceBuffer od = to_device(rt.offsets);
  DeviceBuffer rd = to_device(rt.rows);
  const int64_t total = rt.total();
  DeviceBuffer yd(static_cast<size_t>(std::max<int64_t>(total, 1) * ldy) * sizeof(float));
  poison_f32(yd);
  QL_GPU_ASSERT(ql::gpu::launch_grouped_gemm(w, xd.get<float>() + o.x_offset, ldx, o.pass_rows ? rd.get<int32_t>() : nullptr,
                                              od.get<int32_t>(), rt.groups(), total,
                                              o.max_rows < 0 ? total : o.max_rows, o.swiglu, yd.get<float>(), ldy,
                                              nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  *y_out = to_host<float>(yd, static_cast<size_t>(total * ldy));
  *ldx_out = ldx;
  *ldy_out = ldy;
}

// Checks pairs `check` (all when empty) of y against the double reference; every
// output element of every pair written, padding untouched.
void check(const Built& b, const DeviceWeight& w, const Routing& rt, const RunOpts& o, const std::vector<float>& x,
           int64_t ldx, const std::vector<float>& y, int64_t ldy, std::vector<int64_t> check_pairs = {}) {
  const int64_t K = w.cols, groups = rt.groups();
  const int64_t out_cols = o.swiglu ? w.rows / 2 : w.rows;
  const int64_t total = rt.total();
  size_t unwritten = 0, pad_written = 0;
  for (int64_t p = 0; p < total; ++p)
    for (int64_t c = 0; c < ldy; ++c) {
      const bool nan = std::isnan(y[p * ldy + c]);
      if (c < out_cols) unwritten += nan;
      else pad_written += !nan;
    }
  EXPECT_EQ(unwritten, 0u);
  EXPECT_EQ(pad_written, 0u);
  if (check_pairs.empty())
    for (int64_t p = 0; p < total; ++p) check_pairs.push_back(p);
  std::vector<float> got;
  std::vector<double> want;
  size_t bad = 0;
  std::vector<double> xr(static_cast<size_t>(K));
  for (int64_t p : check_pairs) {
    const int64_t g = std::upper_bound(rt.offsets.begin(), rt.offsets.end(), static_cast<int32_t>(p)) -
                      rt.offsets.begin() - 1;
    const int64_t m = w.stack == groups ? g : 0;
    const int64_t xrow = o.pass_rows ? rt.rows[p] : p;
    for (int64_t k = 0; k < K; ++k) xr[k] = mma_round(b.format, x[o.x_offset + xrow * ldx + k]);
    auto dot = [&](int64_t view_row, double* abs_sum) {
      const float* wr = b.mma.data() + (m * w.stored_rows + w.first_row + view_row) * K;
      double s = 0, a = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double t = xr[k] * static_cast<double>(wr[k]);
        s += t;
        a += std::fabs(t);
      }
      *abs_sum = a;
      return s;
    };
    for (int64_t c = 0; c < out_cols; ++c) {
      double ref, bound;
      if (o.swiglu) {
        double ag, au;
        const double gate = dot(c, &ag), up = dot(out_cols + c, &au);
        const double s = gate / (1.0 + std::exp(-gate));
        ref = s * up;
        bound = kElemTol * (1.1 * ag * std::fabs(up) + au * std::fabs(s)) + 1e-6 * std::fabs(ref) + 1e-30;
      } else {
        double a;
        ref = dot(c, &a);
        bound = kElemTol * a + 1e-30;
      }
      const float v = y[p * ldy + c];
      if (!(std::fabs(v - ref) <= bound)) ++bad;
      got.push_back(v);
      want.push_back(ref);
    }
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_LT(relative_error(got, want), kNormTol);
}

const WFormat kAllFormats[] = {WFormat::kF32, WFormat::kBF16, WFormat::kF16, WFormat::kInt8, WFormat::kNF4};

TEST(GpuGroupedGemm, EveryFormatAndGroupSize) {
  // 0-row groups, a 1-row group, partial and full 64-row tiles, a 2-tile group.
  const Routing rt = from_sizes({0, 1, 31, 100, 0, 64, 65, 7}, 120, 5);
  struct Shape {
    bool swiglu;
    int64_t rows, K;
  };
  // K 320: whole k-steps; 336: a partial last k-step; 100: the generic path;
  // 328 (K % 8 == 0, K % 16 != 0): fast for 16-bit weights, generic for int8 / nf4.
  // Rows 200 / 130: a partial last n-tile; swiglu I = 72, 40: partial too.
  const Shape shapes[] = {{false, 200, 320}, {true, 144, 336}, {false, 130, 100}, {true, 80, 328}};
  uint32_t seed = 40;
  for (const Shape& s : shapes) {
    for (WFormat f : kAllFormats) {
      SCOPED_TRACE(::testing::Message() << format_name(f) << " swiglu " << s.swiglu << " rows " << s.rows << " K " << s.K);
      Built b;
      build(f, rt.groups(), s.rows, s.K, seed++, &b);
      if (HasFatalFailure()) return;
      RunOpts o;
      o.swiglu = s.swiglu;
      o.ldy_pad = 3;
      std::vector<float> x, y;
      int64_t ldx, ldy;
      launch(b.tw.w, rt, 120, o, seed++, &x, &y, &ldx, &ldy);
      check(b, b.tw.w, rt, o, x, ldx, y, ldy);
    }
  }
}

// The fast path and the generic path (forced by a misaligned x) do the same
// MMAs in the same order on the same decoded values: bitwise equal outputs.
TEST(GpuGroupedGemm, FastPathMatchesGenericBitwise) {
  const Routing rt = from_sizes({3, 0, 70, 17}, 90, 6);
  for (bool swiglu : {false, true}) {
    for (WFormat f : kAllFormats) {
      SCOPED_TRACE(::testing::Message() << format_name(f) << " swiglu " << swiglu);
      Built b;
      build(f, rt.groups(), 192, 384, 60 + static_cast<uint32_t>(f), &b);
      RunOpts fast, slow;
      fast.swiglu = slow.swiglu = swiglu;
      slow.x_offset = 1;
      std::vector<float> x1, y1, x2, y2;
      int64_t ldx1, ldy1, ldx2, ldy2;
      launch(b.tw.w, rt, 90, fast, 77, &x1, &y1, &ldx1, &ldy1);
      launch(b.tw.w, rt, 90, slow, 77, &x2, &y2, &ldx2, &ldy2, &x1);  // the same rows, one float later
      check(b, b.tw.w, rt, fast, x1, ldx1, y1, ldy1);
      check(b, b.tw.w, rt, slow, x2, ldx2, y2, ldy2);
      ASSERT_EQ(y1.size(), y2.size());
      EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)), 0);
    }
  }
}

TEST(GpuGroupedGemm, TinyModelShapes) {
  struct Tiny {
    int64_t tokens;
    int top_k, experts;
    int64_t hidden, inter;
  };
  const Tiny tiny[] = {{5, 2, 6, 24, 12}, {3, 4, 10, 40, 20}, {37, 3, 8, 48, 12}, {1, 2, 6, 24, 12}};
  uint32_t seed = 200;
  for (const Tiny& t : tiny) {
    const Routing rt = from_topk(t.tokens, t.top_k, t.experts, seed++);
    for (WFormat f : kAllFormats) {
      SCOPED_TRACE(::testing::Message() << format_name(f) << " hidden " << t.hidden << " inter " << t.inter);
      // gate_up [2I, H] with swiglu, then down [H, I] on the pair rows (rows == nullptr).
      Built gu, dn;
      build(f, t.experts, 2 * t.inter, t.hidden, seed++, &gu);
      build(f, t.experts, t.hidden, t.inter, seed++, &dn);
      RunOpts o1;
      o1.swiglu = true;
      std::vector<float> x, y;
      int64_t ldx, ldy;
      launch(gu.tw.w, rt, t.tokens, o1, seed++, &x, &y, &ldx, &ldy);
      check(gu, gu.tw.w, rt, o1, x, ldx, y, ldy);
      RunOpts o2;
      o2.pass_rows = false;
      launch(dn.tw.w, rt, rt.total(), o2, seed++, &x, &y, &ldx, &ldy);
      check(dn, dn.tw.w, rt, o2, x, ldx, y, ldy);
    }
  }
}

// The demo model's experts (8 of [2 x 20, 24] and [24, 20], top-2) on an
// image prompt of 88 tokens, routed unevenly as a trained router does: one
// expert takes almost every token (88 rows, beyond one 64-row tile), one a
// handful, two none. The op-by-op parity run of 2026-12-07 found the MoE
// prefill of this shape 28% off at bf16 and int8 (tests/gpu/test_gpu_op_parity).
TEST(GpuGroupedGemm, DemoShapeWithSkewedRouting) {
  const int64_t tokens = 88, hidden = 24, inter = 20;
  const int experts = 8;
  // Sizes sum to 2 x 88 pairs; each group's rows ascend (as moe_group gives them).
  const std::vector<int> sizes = {0, 81, 7, 88, 0, 0, 0, 0};
  Routing rt;
  rt.offsets.push_back(0);
  for (int e = 0; e < experts; ++e) {
    for (int i = 0; i < sizes[e]; ++i) rt.rows.push_back(static_cast<int32_t>(e == 2 ? i * 11 : i));
    rt.offsets.push_back(static_cast<int32_t>(rt.rows.size()));
    rt.max_rows = std::max<int64_t>(rt.max_rows, sizes[e]);
  }
  uint32_t seed = 900;
  for (WFormat f : kAllFormats) {
    SCOPED_TRACE(format_name(f));
    Built gu, dn;
    build(f, experts, 2 * inter, hidden, seed++, &gu);
    build(f, experts, hidden, inter, seed++, &dn);
    RunOpts o1;
    o1.swiglu = true;
    std::vector<float> x, y;
    int64_t ldx, ldy;
    launch(gu.tw.w, rt, tokens, o1, seed++, &x, &y, &ldx, &ldy);
    check(gu, gu.tw.w, rt, o1, x, ldx, y, ldy);
    RunOpts o2;
    o2.pass_rows = false;
    launch(dn.tw.w, rt, rt.total(), o2, seed++, &x, &y, &ldx, &ldy);
    check(dn, dn.tw.w, rt, o2, x, ldx, y, ldy);
  }
}

// groups = 1, stack = 1: one quantized dense weight, rows == nullptr.
TEST(GpuGroupedGemm, DenseQuantizedWeight) {
  struct Shape {
    int64_t n, N, K;
  };
  const Shape shapes[] = {{512, 4096, 2048}, {300, 1152, 4304}, {1, 4304, 1152}, {3, 2048, 4608}};
  uint32_t seed = 300;
  for (const Shape& s : shapes) {
    for (WFormat f : {WFormat::kBF16, WFormat::kInt8, WFormat::kNF4}) {
      SCOPED_TRACE(::testing::Message() << format_name(f) << " [" << s.N << ", " << s.K << "] n " << s.n);
      Built b;
      build(f, 1, s.N, s.K, seed++, &b);
      Routing rt;
      rt.offsets = {0, static_cast<int32_t>(s.n)};
      rt.max_rows = s.n;
      RunOpts o;
      o.pass_rows = false;
      std::vector<float> x, y;
      int64_t ldx, ldy;
      launch(b.tw.w, rt, s.n, o, seed++, &x, &y, &ldx, &ldy);
      std::vector<int64_t> pairs;
      for (int64_t i = 0; i < std::min<int64_t>(s.n, 6); ++i) pairs.push_back(i * (s.n - 1) / 5);
      if (s.n < 6) pairs.clear();
      check(b, b.tw.w, rt, o, x, ldx, y, ldy, pairs);
    }
  }
}

// A row view (rows [64, 264) of 400 stored rows, as q of a fused qkv), one
// matrix shared by 3 groups (stack 1), and a tight max_rows_per_group bound.
TEST(GpuGroupedGemm, RowViewSharedMatrixAndTightBound) {
  const Routing rt = from_sizes({40, 0, 70}, 100, 7);
  uint32_t seed = 400;
  for (WFormat f : kAllFormats) {
    for (int64_t K : {int64_t(336), int64_t(100)}) {
      SCOPED_TRACE(::testing::Message() << format_name(f) << " K " << K);
      Built b;
      build(f, 1, 400, K, seed++, &b);
      DeviceWeight view = b.tw.w;
      view.first_row = 64;
      view.rows = 200;
      RunOpts o;
      o.max_rows = rt.max_rows;
      o.ldx_pad = 4;
      std::vector<float> x, y;
      int64_t ldx, ldy;
      launch(view, rt, 100, o, seed++, &x, &y, &ldx, &ldy);
      check(b, view, rt, o, x, ldx, y, ldy);
      o.swiglu = true;  // gate = view rows [0, 100), up = [100, 200)
      launch(view, rt, 100, o, seed++, &x, &y, &ldx, &ldy);
      check(b, view, rt, o, x, ldx, y, ldy);
    }
  }
}

TEST(GpuGroupedGemm, Deterministic) {
  const Routing rt = from_topk(64, 8, 16, 9);
  Built b;
  build(WFormat::kNF4, 16, 256, 512, 500, &b);
  RunOpts o;
  o.swiglu = true;
  std::vector<float> x, y1, y2;
  int64_t ldx, ldy;
  launch(b.tw.w, rt, 64, o, 501, &x, &y1, &ldx, &ldy);
  launch(b.tw.w, rt, 64, o, 501, &x, &y2, &ldx, &ldy);
  EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)), 0);
}

// ---- the real expert shapes, with timing -----------------------------------------------

float hash_uniform(uint64_t i, uint64_t seed) {  // splitmix64 -> [-1, 1)
  uint64_t z = i + seed * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

// `experts` matrices [rows, cols] of format f from the hash values; `decoded`
// receives the MMA values of the experts listed in `keep` (others empty).
struct BigWeight {
  TestWeight tw;
  std::vector<std::vector<float>> decoded;
  double bytes = 0;  // weight bytes the product reads
};

void build_big(WFormat f, int64_t experts, int64_t rows, int64_t cols, uint64_t seed, const std::vector<int>& keep,
               BigWeight* out) {
  const int64_t per = rows * cols;
  std::vector<float> vals(static_cast<size_t>(per));
  out->decoded.assign(static_cast<size_t>(experts), {});
  std::vector<uint16_t> bits;
  std::vector<ql::quant::Int8RowwiseWeight> q8;
  std::vector<ql::quant::Nf4Weight> q4;
  if (f == WFormat::kBF16) bits.resize(static_cast<size_t>(experts * per));
  for (int64_t e = 0; e < experts; ++e) {
    for (int64_t i = 0; i < per; ++i) vals[i] = 0.05f * hash_uniform(static_cast<uint64_t>(e * per + i), seed);
    const bool kept = std::find(keep.begin(), keep.end(), static_cast<int>(e)) != keep.end();
    std::vector<float> dec;
    if (kept) dec.resize(static_cast<size_t>(per));
    if (f == WFormat::kBF16) {
      for (int64_t i = 0; i < per; ++i) {
        bits[e * per + i] = ql::f32_to_bf16(vals[i]);
        if (kept) dec[i] = ql::bf16_to_f32(bits[e * per + i]);
      }
    } else if (f == WFormat::kInt8) {
      auto r = ql::quant::quantize_int8_rowwise(ql::quant::SourceTensor::f32("w", vals.data(), rows, cols));
      ASSERT_TRUE(r.ok()) << r.message();
      q8.push_back(std::move(*r));
      if (kept) ql::quant::decode_rows(q8.back(), 0, rows, dec.data());
    } else {
      auto r = ql::quant::quantize_nf4(ql::quant::SourceTensor::f32("w", vals.data(), rows, cols));
      ASSERT_TRUE(r.ok()) << r.message();
      q4.push_back(std::move(*r));
      if (kept) ql::quant::decode_rows(q4.back(), 0, rows, dec.data());
    }
    for (float& v : dec) v = mma_round(WFormat::kBF16, v);
    out->decoded[e] = std::move(dec);
  }
  if (f == WFormat::kBF16) {
    out->tw.w.format = WFormat::kBF16;
    out->tw.w.rows = out->tw.w.stored_rows = rows;
    out->tw.w.cols = cols;
    out->tw.w.stack = experts;
    out->tw.buffers.push_back(to_device(bits));
    out->tw.w.data = out->tw.buffers.back().get();
    out->bytes = 2.0 * experts * per;
  } else if (f == WFormat::kInt8) {
    out->tw = upload_int8(q8);
    out->bytes = double(experts) * (per + rows * 4);
  } else {
    out->tw = upload_nf4(q4);
    const double blocks = double(per) / 64;
    out->bytes = double(experts) * (per / 2.0 + blocks + blocks / 256 * 4 + 4);
  }
}

TEST(GpuGroupedGemm, Timing) {
  const int64_t E = 128, H = 2048, I = 768, T = 512;
  const int top_k = 8;
  const Routing rt = from_topk(T, top_k, static_cast<int>(E), 2024);
  const int64_t P = rt.total();
  ASSERT_EQ(P, T * top_k);
  std::vector<int> keep;  // experts checked against the reference: 2 pairs each
  std::vector<int64_t> pairs;
  for (int e = 0; e < E; e += 8) {
    if (rt.offsets[e + 1] == rt.offsets[e]) continue;
    keep.push_back(e);
    pairs.push_back(rt.offsets[e]);
    pairs.push_back(rt.offsets[e + 1] - 1);
  }
  const std::vector<float> x = random_floats(static_cast<size_t>(T * H), 3);
  DeviceBuffer xd = to_device(x), od = to_device(rt.offsets), rd = to_device(rt.rows);
  DeviceBuffer hd(static_cast<size_t>(P * I) * sizeof(float)), yd(static_cast<size_t>(P * H) * sizeof(float));
  cudaEvent_t start, stop;
  QL_GPU_ASSERT(cudaEventCreate(&start));
  QL_GPU_ASSERT(cudaEventCreate(&stop));

  for (WFormat f : {WFormat::kBF16, WFormat::kInt8, WFormat::kNF4}) {
    SCOPED_TRACE(format_name(f));
    BigWeight gu, dn;
    build_big(f, E, 2 * I, H, 11, keep, &gu);
    build_big(f, E, H, I, 12, keep, &dn);
    if (HasFatalFailure()) return;
    auto run_gu = [&] {
      return ql::gpu::launch_grouped_gemm(gu.tw.w, xd.get<float>(), H, rd.get<int32_t>(), od.get<int32_t>(), E, P, P,
                                          true, hd.get<float>(), I, nullptr);
    };
    auto run_dn = [&] {
      return ql::gpu::launch_grouped_gemm(dn.tw.w, hd.get<float>(), I, nullptr, od.get<int32_t>(), E, P, P, false,
                                          yd.get<float>(), H, nullptr);
    };
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
    poison_f32(hd);
    poison_f32(yd);
    const double t_gu = median_ms(run_gu);
    const double t_dn = median_ms(run_dn);
    QL_GPU_ASSERT(cudaDeviceSynchronize());
    QL_GPU_ASSERT(cudaGetLastError());
    std::printf("TIMING grouped_gemm %-4s gate_up swiglu 128 x [1536, 2048], %lld pairs: %.3f ms, %.0f GB/s of weights\n",
                format_name(f), static_cast<long long>(P), t_gu, gu.bytes / (t_gu * 1e-3) / 1e9);
    std::printf("TIMING grouped_gemm %-4s down 128 x [2048, 768], %lld pairs: %.3f ms, %.0f GB/s of weights\n",
                format_name(f), static_cast<long long>(P), t_dn, dn.bytes / (t_dn * 1e-3) / 1e9);
    std::printf("TIMING grouped_gemm %-4s MoE experts of one layer (512 tokens, top-8): %.3f ms; 12 layers %.2f ms\n",
                format_name(f), t_gu + t_dn, 12 * (t_gu + t_dn));

    // Correctness on the kept experts: gate_up from x, down from the GPU's h.
    const std::vector<float> h = to_host<float>(hd, static_cast<size_t>(P * I));
    const std::vector<float> y = to_host<float>(yd, static_cast<size_t>(P * H));
    EXPECT_EQ(count_nan(h), 0u);
    EXPECT_EQ(count_nan(y), 0u);
    std::vector<float> got;
    std::vector<double> want;
    size_t bad = 0;
    std::vector<double> xr(static_cast<size_t>(H));
    for (int64_t p : pairs) {
      const int64_t e = std::upper_bound(rt.offsets.begin(), rt.offsets.end(), static_cast<int32_t>(p)) -
                        rt.offsets.begin() - 1;
      for (int64_t k = 0; k < H; ++k) xr[k] = mma_round(WFormat::kBF16, x[rt.rows[p] * H + k]);
      const float* w = gu.decoded[e].data();
      ASSERT_FALSE(gu.decoded[e].empty());
      for (int64_t j = 0; j < I; ++j) {
        double g = 0, u = 0, ag = 0, au = 0;
        for (int64_t k = 0; k < H; ++k) {
          const double tg = xr[k] * w[j * H + k], tu = xr[k] * w[(I + j) * H + k];
          g += tg;
          u += tu;
          ag += std::fabs(tg);
          au += std::fabs(tu);
        }
        const double s = g / (1.0 + std::exp(-g));
        const double ref = s * u;
        const double bound = kElemTol * (1.1 * ag * std::fabs(u) + au * std::fabs(s)) + 1e-6 * std::fabs(ref) + 1e-30;
        if (!(std::fabs(h[p * I + j] - ref) <= bound)) ++bad;
        got.push_back(h[p * I + j]);
        want.push_back(ref);
      }
      const float* wd = dn.decoded[e].data();
      for (int64_t o = 0; o < H; ++o) {
        double d = 0, a = 0;
        for (int64_t k = 0; k < I; ++k) {
          const double t = double(mma_round(WFormat::kBF16, h[p * I + k])) * wd[o * I + k];
          d += t;
          a += std::fabs(t);
        }
        if (!(std::fabs(y[p * H + o] - d) <= kElemTol * a + 1e-30)) ++bad;
        got.push_back(y[p * H + o]);
        want.push_back(d);
      }
    }
    EXPECT_EQ(bad, 0u);
    EXPECT_LT(relative_error(got, want), kNormTol);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace
