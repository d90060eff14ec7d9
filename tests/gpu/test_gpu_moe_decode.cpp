// GPU parity: decode-time MoE (gpu/kernels/moe_route.cuh, moe_decode.cuh)
// against the CPU. Routing against cpu_moe.cpp's route_token written out
// here; expert products against double-precision sums of the weights as
// stored (dense: the rounded values; NF4: quant::decode_rows), and for INT8
// against quant::int8_matmul run on each (token, expert) row alone, which is
// exactly LLM.int8 with per-row outlier columns (docs/gpu-backend.md, "MoE").
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "core/common/float16.h"
#include "core/quant/int8_activations.h"
#include "core/quant/int8_matmul.h"
#include "core/quant/int8_rowwise.h"
#include "core/quant/nf4.h"
#include "core/quant/source_tensor.h"
#include "gpu/kernels/int8_activations.cuh"
#include "gpu/kernels/moe_decode.cuh"
#include "gpu/kernels/moe_route.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace {

using namespace ql::gpu;
using namespace ql::gpu::test;
namespace quant = ql::quant;

constexpr float kThreshold = 6.0f;  // LLM.int8's default outlier threshold

// fp32 sums on the GPU are at most ~70 roundings deep (a chunk's FMA chain of
// <= 32, a lane's chunks, 5 butterfly levels; the slow path's lane loop of
// H / 32 <= 64): each rounding moves a sum by <= 2^-24 of the sum of |terms|.
// 8e-6 ~ 134 * 2^-24 leaves room; typical errors are ~100x smaller.
constexpr double kSumTol = 8e-6;

const char* format_name(WFormat f) {
  switch (f) {
    case WFormat::kF32: return "F32";
    case WFormat::kBF16: return "BF16";
    case WFormat::kF16: return "F16";
    case WFormat::kInt8: return "INT8";
    case WFormat::kNF4: return "NF4";
  }
  return "?";
}

const WFormat kFormats[] = {WFormat::kF32, WFormat::kBF16, WFormat::kF16, WFormat::kInt8, WFormat::kNF4};

// ------------------------------------------------------------------ routing

// cpu_moe.cpp's route_token, verbatim in substance.
void cpu_route(const std::vector<float>& logits, int64_t ldl, int64_t n, int experts, int top_k,
               std::vector<int32_t>& ids, std::vector<float>& weights) {
  ids.assign(static_cast<size_t>(n * top_k), -1);
  weights.assign(static_cast<size_t>(n * top_k), 0.0f);
  std::vector<float> probs(static_cast<size_t>(experts));
  std::vector<int32_t> order(static_cast<size_t>(experts));
  for (int64_t t = 0; t < n; ++t) {
    const float* l = logits.data() + t * ldl;
    const float max_logit = *std::max_element(l, l + experts);
    float sum = 0;
    for (int e = 0; e < experts; ++e) sum += probs[e] = std::exp(l[e] - max_logit);
    for (int e = 0; e < experts; ++e) probs[e] /= sum;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](int32_t a, int32_t b) {
      return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
    });
    float top_sum = 0;
    for (int i = 0; i < top_k; ++i) top_sum += probs[order[i]];
    for (int i = 0; i < top_k; ++i) {
      ids[t * top_k + i] = order[i];
      weights[t * top_k + i] = probs[order[i]] / top_sum;
    }
  }
}

enum class Logits { kContinuous, kGrid, kTwoValues, kAllEqual };

struct RouteCase {
  int64_t n;
  int experts;
  int top_k;
  int64_t pad;  // ldl = experts + pad
  Logits kind;
};

void check_route(const RouteCase& c, uint32_t seed) {
  SCOPED_TRACE("n=" + std::to_string(c.n) + " experts=" + std::to_string(c.experts) +
               " top_k=" + std::to_string(c.top_k) + " kind=" + std::to_string(static_cast<int>(c.kind)));
  const int64_t ldl = c.experts + c.pad;
  std::mt19937 rng(seed);
  std::vector<float> logits(static_cast<size_t>(c.n * ldl), 0.0f);
  for (int64_t t = 0; t < c.n; ++t)
    for (int e = 0; e < c.experts; ++e) {
      float& l = logits[t * ldl + e];
      switch (c.kind) {
        case Logits::kContinuous: l = std::uniform_real_distribution<float>(-4.0f, 4.0f)(rng); break;
        // Multiples of 1/64: probabilities are either equal (a tie on both sides,
        // exp of the same value) or >= 1.5% apart, so no ulp-level near-ties.
        case Logits::kGrid: l = static_cast<float>(std::uniform_int_distribution<int>(-256, 256)(rng)) / 64.0f; break;
        case Logits::kTwoValues: l = static_cast<float>(std::uniform_int_distribution<int>(0, 1)(rng)); break;
        case Logits::kAllEqual: l = 0.25f; break;
      }
    }
  std::vector<int32_t> want_ids;
  std::vector<float> want_w;
  cpu_route(logits, ldl, c.n, c.experts, c.top_k, want_ids, want_w);

  DeviceBuffer d_logits = to_device(logits);
  DeviceBuffer d_ids(want_ids.size() * sizeof(int32_t));
  DeviceBuffer d_w(want_w.size() * sizeof(float));
  QL_GPU_ASSERT(cudaMemset(d_ids.get(), 0xff, d_ids.bytes()));
  poison_f32(d_w);
  QL_GPU_ASSERT(launch_moe_route(d_logits.get<float>(), ldl, c.n, c.experts, c.top_k, d_ids.get<int32_t>(),
                                 d_w.get<float>(), nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  const auto ids = to_host<int32_t>(d_ids, want_ids.size());
  const auto w = to_host<float>(d_w, want_w.size());
  EXPECT_EQ(count_nan(w), 0u);
  size_t bad_ids = 0, bad_w = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != want_ids[i]) {
      if (bad_ids++ < 5) ADD_FAILURE() << "slot " << i << ": id " << ids[i] << ", CPU " << want_ids[i];
    }
    // 1e-6: expf on the GPU is within 2 ulp of std::exp, and the sums run in
    // another order; the ratio p / top_sum cancels the rest.
    if (!(std::fabs(w[i] - want_w[i]) <= 1e-6 * std::fabs(want_w[i]))) {
      if (bad_w++ < 5) ADD_FAILURE() << "slot " << i << ": weight " << w[i] << ", CPU " << want_w[i];
    }
  }
  EXPECT_EQ(bad_ids, 0u);
  EXPECT_EQ(bad_w, 0u);
}

TEST(GpuMoeRoute, MatchesCpu) {
  const RouteCase cases[] = {
      {1, 128, 8, 0, Logits::kContinuous},  {16, 128, 8, 0, Logits::kContinuous}, {1000, 128, 8, 3, Logits::kGrid},
      {5, 6, 3, 0, Logits::kContinuous},    {7, 10, 4, 1, Logits::kContinuous},   {3, 8, 2, 0, Logits::kContinuous},
      {2, 1024, 8, 0, Logits::kGrid},       {2, 1024, 1024, 0, Logits::kGrid},    {3, 200, 200, 5, Logits::kGrid},
      {4, 1, 1, 0, Logits::kContinuous},    {3, 128, 8, 0, Logits::kAllEqual},    {50, 16, 4, 2, Logits::kTwoValues},
      {64, 129, 7, 0, Logits::kTwoValues},  {3000, 8, 2, 0, Logits::kGrid},
  };
  uint32_t seed = 100;
  for (const auto& c : cases) check_route(c, seed++);
}

// ------------------------------------------------------------------ experts

struct MoeShape {
  int64_t experts;
  int top_k;
  int64_t hidden;
  int64_t inter;
};

// gate_up [experts][2I, H] and down [experts][H, I] of one format, built from
// `distinct` random matrices (expert e uses matrix e % distinct, so the real
// shape needs only a few on the host while the GPU holds all 128).
struct Experts {
  WFormat format = WFormat::kBF16;
  MoeShape shape{};
  int64_t distinct = 0;
  std::vector<std::vector<float>> gu, dn;          // the weights as stored, as fp32
  std::vector<quant::Int8RowwiseWeight> gu8, dn8;  // INT8 only
  TestWeight gu_dev, dn_dev;
  const float* gu_ref(int64_t e) const { return gu[e % distinct].data(); }
  const float* dn_ref(int64_t e) const { return dn[e % distinct].data(); }
};

// Dense stack from the distinct matrices, copied matrix by matrix (the
// helper's upload_dense wants the whole stack on the host).
TestWeight upload_dense_replicated(WFormat f, const std::vector<std::vector<float>>& values, int64_t rows,
                                   int64_t cols, int64_t stack) {
  const size_t esize = f == WFormat::kF32 ? 4 : 2;
  const size_t numel = static_cast<size_t>(rows * cols);
  TestWeight t;
  t.w.format = f;
  t.w.rows = t.w.stored_rows = rows;
  t.w.cols = cols;
  t.w.stack = stack;
  DeviceBuffer buf(static_cast<size_t>(stack) * numel * esize);
  std::vector<std::vector<uint8_t>> bits(values.size(), std::vector<uint8_t>(numel * esize));
  for (size_t d = 0; d < values.size(); ++d) {
    if (f == WFormat::kF32) {
      std::memcpy(bits[d].data(), values[d].data(), numel * 4);
    } else {
      for (size_t i = 0; i < numel; ++i) {
        const uint16_t h = f == WFormat::kBF16 ? ql::f32_to_bf16(values[d][i]) : ql::f32_to_f16(values[d][i]);
        std::memcpy(bits[d].data() + 2 * i, &h, 2);
      }
    }
  }
  for (int64_t e = 0; e < stack; ++e)
    cudaMemcpy(buf.get<uint8_t>() + static_cast<size_t>(e) * numel * esize, bits[e % values.size()].data(),
               numel * esize, cudaMemcpyHostToDevice);
  t.buffers.push_back(std::move(buf));
  t.w.data = t.buffers.back().get();
  return t;
}

float stored_value(WFormat f, float v) {
  if (f == WFormat::kBF16) return ql::bf16_to_f32(ql::f32_to_bf16(v));
  if (f == WFormat::kF16) return ql::f16_to_f32(ql::f32_to_f16(v));
  return v;
}

// One stacked weight [stack][rows, cols]; `ref` receives each distinct matrix as stored.
void build_stack(WFormat f, int64_t stack, int64_t rows, int64_t cols, int64_t distinct, uint32_t seed,
                 std::vector<std::vector<float>>& ref, std::vector<quant::Int8RowwiseWeight>& int8, TestWeight& dev) {
  const size_t numel = static_cast<size_t>(rows * cols);
  std::vector<std::vector<float>> src(static_cast<size_t>(distinct));
  ref.assign(static_cast<size_t>(distinct), std::vector<float>(numel));
  int8.clear();
  std::vector<quant::Nf4Weight> nf4;
  for (int64_t d = 0; d < distinct; ++d) {
    src[d] = random_floats(numel, seed + static_cast<uint32_t>(d) * 7919u, -0.5f, 0.5f);
    const auto st = quant::SourceTensor::f32("moe_test_weight", src[d].data(), rows, cols);
    if (f == WFormat::kInt8) {
      auto q = quant::quantize_int8_rowwise(st);
      ASSERT_TRUE(q.ok()) << q.message();
      quant::decode_rows(*q, 0, rows, ref[d].data());
      int8.push_back(std::move(*q));
    } else if (f == WFormat::kNF4) {
      auto q = quant::quantize_nf4(st);
      ASSERT_TRUE(q.ok()) << q.message();
      quant::decode_rows(*q, 0, rows, ref[d].data());
      nf4.push_back(std::move(*q));
    } else {
      for (size_t i = 0; i < numel; ++i) ref[d][i] = stored_value(f, src[d][i]);
    }
  }
  if (f == WFormat::kInt8) {
    std::vector<quant::Int8RowwiseWeight> all;
    for (int64_t e = 0; e < stack; ++e) all.push_back(int8[e % distinct]);
    dev = upload_int8(all);
  } else if (f == WFormat::kNF4) {
    std::vector<quant::Nf4Weight> all;
    for (int64_t e = 0; e < stack; ++e) all.push_back(nf4[e % distinct]);
    dev = upload_nf4(all);
  } else if (distinct == stack) {
    std::vector<float> all;
    for (const auto& m : src) all.insert(all.end(), m.begin(), m.end());
    dev = upload_dense(f, all, rows, cols, stack);
  } else {
    dev = upload_dense_replicated(f, src, rows, cols, stack);
  }
  QL_GPU_ASSERT(cudaGetLastError());
}

void build_experts(WFormat f, const MoeShape& s, int64_t distinct, uint32_t seed, Experts& ex) {
  ex.format = f;
  ex.shape = s;
  ex.distinct = distinct;
  build_stack(f, s.experts, 2 * s.inter, s.hidden, distinct, seed, ex.gu, ex.gu8, ex.gu_dev);
  if (::testing::Test::HasFatalFailure()) return;
  build_stack(f, s.experts, s.hidden, s.inter, distinct, seed + 1000003u, ex.dn, ex.dn8, ex.dn_dev);
}

// ------------------------------------------------------------------ inputs

enum class Sharing { kRandom, kPool, kSame };

// ids [n, top_k]: distinct experts per token, in no particular order.
// kPool: every token picks from top_k + 2 experts, so most experts repeat
// across tokens; kSame: every token picks token 0's experts.
std::vector<int32_t> make_ids(int64_t n, int top_k, int64_t experts, Sharing sharing, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> all(static_cast<size_t>(experts));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  const int64_t pool = sharing == Sharing::kPool ? std::min<int64_t>(experts, top_k + 2) : experts;
  std::vector<int32_t> ids(static_cast<size_t>(n * top_k));
  for (int64_t t = 0; t < n; ++t) {
    std::vector<int32_t> p(all.begin(), all.begin() + pool);
    if (!(sharing == Sharing::kSame && t > 0)) std::shuffle(p.begin(), p.end(), rng);
    for (int s = 0; s < top_k; ++s)
      ids[t * top_k + s] = sharing == Sharing::kSame && t > 0 ? ids[s] : p[s];
  }
  return ids;
}

// Activations in [-1, 1] with a few LLM.int8 outliers (|x| >= 6) in columns
// that differ from row to row, so per-row outlier lists matter.
std::vector<float> make_acts(int64_t rows, int64_t cols, int64_t ld, uint32_t seed) {
  std::vector<float> x = random_floats(static_cast<size_t>(rows * ld), seed);
  std::mt19937 rng(seed ^ 0x9e3779b9u);
  for (int64_t r = 0; r < rows; ++r) {
    const int outliers = static_cast<int>(r % 3);  // 0, 1 or 2 per row
    for (int k = 0; k < outliers; ++k) {
      const int64_t c = std::uniform_int_distribution<int64_t>(0, cols - 1)(rng);
      x[r * ld + c] = (k & 1 ? -1.0f : 1.0f) * std::uniform_real_distribution<float>(6.0f, 9.0f)(rng);
    }
  }
  return x;
}

// LLM.int8 activations, kPerRow, quantized on the host one row at a time
// (quant::quantize_activations) and uploaded. code_offset shifts the codes
// off 16-byte alignment (to force the per-element path).
struct DeviceInt8Acts {
  DeviceBuffer codes, absmax, count, cols;
  Int8Activations q;
};

void make_device_acts(const std::vector<float>& x, int64_t rows, int64_t cols, int64_t ld, int code_offset,
                      DeviceInt8Acts& d) {
  std::vector<int8_t> codes(static_cast<size_t>(rows * cols + 16), 0);
  std::vector<float> absmax(static_cast<size_t>(rows));
  std::vector<int32_t> count(static_cast<size_t>(rows)), list(static_cast<size_t>(rows * cols), 0);
  for (int64_t r = 0; r < rows; ++r) {
    const auto q = quant::quantize_activations(x.data() + r * ld, 1, cols, kThreshold);
    std::copy(q.codes.begin(), q.codes.end(), codes.begin() + code_offset + r * cols);
    absmax[r] = q.absmax[0];
    count[r] = static_cast<int32_t>(q.outlier_cols.size());
    for (size_t k = 0; k < q.outlier_cols.size(); ++k) list[r * cols + k] = static_cast<int32_t>(q.outlier_cols[k]);
  }
  d.codes = to_device(codes);
  d.absmax = to_device(absmax);
  d.count = to_device(count);
  d.cols = to_device(list);
  d.q.codes = d.codes.get<int8_t>() + code_offset;
  d.q.absmax = d.absmax.get<float>();
  d.q.outlier_count = d.count.get<int32_t>();
  d.q.outlier_cols = d.cols.get<int32_t>();
  d.q.rows = rows;
  d.q.cols = cols;
  d.q.mode = OutlierMode::kPerRow;
}

// LLM.int8 y = x_row . W^T for one activation row alone (its own outliers).
std::vector<float> int8_row_product(const float* x_row, const quant::Int8RowwiseWeight& w) {
  std::vector<float> y(static_cast<size_t>(w.rows));
  quant::Int8MatmulOptions options;
  options.outlier_threshold = kThreshold;
  const auto st = quant::int8_matmul(x_row, 1, w, y.data(), options);
  EXPECT_TRUE(st.ok()) << st.message();
  return y;
}

// ------------------------------------------------------------------ gate_up

struct GateUpRun {
  int64_t n = 1;
  int64_t ldx_pad = 0;
  bool misalign = false;  // x (or the INT8 codes) off 16-byte alignment
};

void check_gate_up(const Experts& ex, const std::vector<int32_t>& ids, const GateUpRun& run, uint32_t seed,
                   std::vector<float>* act_out = nullptr) {
  const int64_t n = run.n, H = ex.shape.hidden, I = ex.shape.inter;
  const int k = ex.shape.top_k;
  const int64_t ldx = H + run.ldx_pad;
  const bool int8 = ex.format == WFormat::kInt8;
  SCOPED_TRACE(std::string("gate_up ") + format_name(ex.format) + " n=" + std::to_string(n) + " H=" +
               std::to_string(H) + " I=" + std::to_string(I) + (run.misalign ? " misaligned" : ""));
  const std::vector<float> x = make_acts(n, H, ldx, seed);
  std::vector<float> x_padded(x.size() + 4, 0.0f);
  const int x_off = run.misalign && !int8 ? 1 : 0;
  std::copy(x.begin(), x.end(), x_padded.begin() + x_off);
  DeviceBuffer d_x = to_device(x_padded);
  DeviceBuffer d_ids = to_device(ids);
  DeviceBuffer d_act(static_cast<size_t>(n * k * I) * sizeof(float));
  poison_f32(d_act);
  DeviceInt8Acts xq;
  if (int8) make_device_acts(x, n, H, ldx, run.misalign ? 1 : 0, xq);
  QL_GPU_ASSERT(launch_moe_gate_up(ex.gu_dev.w, d_x.get<float>() + x_off, ldx, n, d_ids.get<int32_t>(), k,
                                   int8 ? &xq.q : nullptr, d_act.get<float>(), nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  const auto act = to_host<float>(d_act, static_cast<size_t>(n * k * I));
  EXPECT_EQ(count_nan(act), 0u) << "elements not written";

  size_t bad = 0;
  double worst = 0;
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x.data() + t * ldx;
    for (int s = 0; s < k; ++s) {
      const int64_t slot = t * k + s;
      const int64_t e = ids[slot];
      std::vector<float> y8;
      if (int8) y8 = int8_row_product(xt, ex.gu8[e % ex.distinct]);
      const float* W = ex.gu_ref(e);
      for (int64_t j = 0; j < I; ++j) {
        const float got = act[slot * I + j];
        double want, tol;
        if (int8) {
          // The GPU computes the same fp32 LLM.int8 values; SwiGLU as the CPU
          // writes it, whose expf is within 2 ulp of std::exp: 1e-6 relative.
          const float g = y8[j], u = y8[I + j];
          want = g / (1.0f + std::exp(-g)) * u;
          tol = 1e-6 * std::fabs(want) + 1e-30;
        } else {
          double g = 0, u = 0, mg = 0, mu = 0;
          for (int64_t c = 0; c < H; ++c) {
            const double gx = static_cast<double>(W[j * H + c]) * xt[c];
            const double ux = static_cast<double>(W[(I + j) * H + c]) * xt[c];
            g += gx;
            u += ux;
            mg += std::fabs(gx);
            mu += std::fabs(ux);
          }
          const double silu = g / (1.0 + std::exp(-g));
          want = silu * u;
          // |d silu / dg| <= 1.1; the SwiGLU itself adds a few roundings.
          tol = kSumTol * (1.1 * std::fabs(u) * mg + std::fabs(silu) * mu) + 1e-6 * std::fabs(want) + 1e-30;
        }
        const double err = std::fabs(got - want);
        if (!(err <= tol)) {
          if (bad++ < 5)
            ADD_FAILURE() << "act[" << slot << ", " << j << "] (expert " << e << ") = " << got << ", want " << want
                          << " (tol " << tol << ")";
        }
        if (tol > 0 && err / tol > worst) worst = err / tol;
      }
    }
  }
  EXPECT_EQ(bad, 0u) << "worst error / tolerance " << worst;
  if (act_out) *act_out = act;
}

// ------------------------------------------------------------------ down

struct DownRun {
  int64_t n = 1;
  int64_t ldo_pad = 0;
  bool accumulate = false;
  bool misalign = false;  // act (or its INT8 codes) off 16-byte alignment
};

void check_down(const Experts& ex, const std::vector<int32_t>& ids, const DownRun& run, uint32_t seed,
                std::vector<float>* out_got = nullptr) {
  const int64_t n = run.n, H = ex.shape.hidden, I = ex.shape.inter;
  const int k = ex.shape.top_k;
  const int64_t nk = n * k, ldo = H + run.ldo_pad;
  const bool int8 = ex.format == WFormat::kInt8;
  SCOPED_TRACE(std::string("down ") + format_name(ex.format) + " n=" + std::to_string(n) + " H=" +
               std::to_string(H) + " I=" + std::to_string(I) + (run.accumulate ? " accumulate" : "") +
               (run.misalign ? " misaligned" : ""));
  const std::vector<float> act = make_acts(nk, I, I, seed);
  std::vector<float> weights = random_floats(static_cast<size_t>(nk), seed + 1, 0.05f, 1.0f);
  for (int64_t t = 0; t < n; ++t) {  // normalised per token, as the router's
    float sum = 0;
    for (int s = 0; s < k; ++s) sum += weights[t * k + s];
    for (int s = 0; s < k; ++s) weights[t * k + s] /= sum;
  }
  const std::vector<float> prior = random_floats(static_cast<size_t>(n * ldo), seed + 2, -2.0f, 2.0f);
  constexpr float kSentinel = 12345.0f;  // the padding columns of out must stay as they are
  std::vector<float> out0(static_cast<size_t>(n * ldo));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t o = 0; o < ldo; ++o)
      out0[t * ldo + o] = o >= H ? kSentinel : (run.accumulate ? prior[t * ldo + o] : std::nanf(""));

  std::vector<float> act_padded(act.size() + 4, 0.0f);
  const int a_off = run.misalign && !int8 ? 1 : 0;
  std::copy(act.begin(), act.end(), act_padded.begin() + a_off);
  DeviceBuffer d_act = to_device(act_padded);
  DeviceBuffer d_ids = to_device(ids);
  DeviceBuffer d_w = to_device(weights);
  DeviceBuffer d_out = to_device(out0);
  DeviceInt8Acts aq;
  if (int8) make_device_acts(act, nk, I, I, run.misalign ? 1 : 0, aq);
  QL_GPU_ASSERT(launch_moe_down(ex.dn_dev.w, d_act.get<float>() + a_off, n, d_ids.get<int32_t>(), d_w.get<float>(),
                                k, int8 ? &aq.q : nullptr, d_out.get<float>(), ldo, run.accumulate, nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  const auto out = to_host<float>(d_out, out0.size());
  EXPECT_EQ(count_nan(out), 0u) << "elements not written";

  size_t bad = 0, bad_pad = 0;
  double worst = 0;
  for (int64_t t = 0; t < n; ++t) {
    std::vector<std::vector<float>> y8(static_cast<size_t>(k));
    if (int8)
      for (int s = 0; s < k; ++s)
        y8[s] = int8_row_product(act.data() + (t * k + s) * I, ex.dn8[ids[t * k + s] % ex.distinct]);
    for (int64_t o = 0; o < ldo; ++o) {
      const float got = out[t * ldo + o];
      if (o >= H) {
        bad_pad += got != kSentinel;
        continue;
      }
      const double old = run.accumulate ? prior[t * ldo + o] : 0.0;
      double want, tol;
      if (int8) {
        // The same fp32 operations in the same order as the GPU (and the CPU
        // backend): expected bit for bit; 1e-6 of the magnitudes for safety.
        float sum = 0.0f, mag = 0.0f;
        for (int s = 0; s < k; ++s) {
          const float term = weights[t * k + s] * y8[s][o];
          sum = sum + term;
          mag += std::fabs(term);
        }
        want = run.accumulate ? static_cast<float>(prior[t * ldo + o] + sum) : sum;
        tol = 1e-6 * (mag + std::fabs(old)) + 1e-30;
      } else {
        double sum = 0, bound = 0, mag = std::fabs(old);
        for (int s = 0; s < k; ++s) {
          const int64_t p = t * k + s;
          const float* D = ex.dn_ref(ids[p]) + o * I;
          const float* a = act.data() + p * I;
          double d = 0, m = 0;
          for (int64_t c = 0; c < I; ++c) {
            const double term = static_cast<double>(D[c]) * a[c];
            d += term;
            m += std::fabs(term);
          }
          sum += weights[p] * d;
          bound += weights[p] * m;
          mag += std::fabs(weights[p] * d);
        }
        want = old + sum;
        // Each dot as in kSumTol, then k + 1 fp32 products and sums.
        tol = kSumTol * bound + 1e-6 * mag + 1e-30;
      }
      const double err = std::fabs(got - want);
      if (!(err <= tol)) {
        if (bad++ < 5) ADD_FAILURE() << "out[" << t << ", " << o << "] = " << got << ", want " << want << " (tol " << tol << ")";
      }
      if (tol > 0 && err / tol > worst) worst = err / tol;
    }
  }
  EXPECT_EQ(bad, 0u) << "worst error / tolerance " << worst;
  EXPECT_EQ(bad_pad, 0u) << "columns beyond H were written";
  if (out_got) *out_got = out;
}

// ------------------------------------------------------------------ tests

void run_shape(const MoeShape& s, int64_t distinct, const std::vector<int64_t>& token_counts, uint32_t seed) {
  for (WFormat f : kFormats) {
    Experts ex;
    build_experts(f, s, distinct, seed, ex);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    int variant = 0;
    for (int64_t n : token_counts) {
      for (Sharing sh : {Sharing::kRandom, Sharing::kPool, Sharing::kSame}) {
        if (n == 1 && sh != Sharing::kRandom) continue;
        const auto ids = make_ids(n, s.top_k, s.experts, sh, seed + 17 * variant);
        GateUpRun gu;
        gu.n = n;
        gu.ldx_pad = variant % 2 == 0 ? 0 : 4;  // row strides that keep x aligned
        check_gate_up(ex, ids, gu, seed + 31 * variant);
        DownRun dn;
        dn.n = n;
        dn.accumulate = variant % 2 == 1;
        dn.ldo_pad = variant % 3 == 0 ? 0 : 3;
        check_down(ex, ids, dn, seed + 37 * variant);
        ++variant;
      }
    }
  }
}

// Tiny models (docs: text hidden 24/40/48, expert width 12/20): every format
// through the per-element path.
TEST(GpuMoeDecode, TinyShapes) {
  run_shape({6, 3, 48, 20}, 6, {1, 2, 5, 16}, 1000);
  run_shape({10, 4, 40, 12}, 10, {1, 2, 5, 16}, 2000);
  run_shape({8, 2, 24, 20}, 8, {1, 2, 5, 16}, 3000);
}

// Fast paths on shapes that are not the model's: gate_up with 96 / 100 rows
// (partial tiles) and down taking the per-element path (I = 96); both fast
// with 320 columns (NF4: 10 chunks a row, so a warp's chunks span rows) and
// 128 (down NF4: 4 rows of 4 chunks, fewer chunks than lanes); 64 x 64.
TEST(GpuMoeDecode, FastPathOddShapes) {
  run_shape({5, 2, 192, 96}, 5, {1, 5, 16}, 4000);
  run_shape({4, 3, 320, 128}, 4, {1, 5, 16}, 5000);
  run_shape({3, 2, 64, 64}, 3, {1, 16}, 6000);
  run_shape({7, 3, 128, 100}, 7, {2, 5}, 7000);
}

// Qwen3-VL-30B-A3B: 128 experts, top-8, hidden 2048, expert width 768.
constexpr MoeShape kReal{128, 8, 2048, 768};

TEST(GpuMoeDecode, RealShape) { run_shape(kReal, 16, {1, 2, 5, 16}, 8000); }

// Unaligned x / act (and INT8 codes) at the real shape take the per-element
// path, which must agree too; and a rerun gives bitwise the same results.
TEST(GpuMoeDecode, RealShapeUnalignedAndDeterministic) {
  for (WFormat f : kFormats) {
    Experts ex;
    build_experts(f, kReal, 16, 9000, ex);
    ASSERT_FALSE(HasFatalFailure());
    const auto ids = make_ids(2, kReal.top_k, kReal.experts, Sharing::kPool, 9001);
    GateUpRun gu;
    gu.n = 2;
    gu.misalign = true;
    check_gate_up(ex, ids, gu, 9002);
    DownRun dn;
    dn.n = 2;
    dn.misalign = true;
    dn.accumulate = true;
    check_down(ex, ids, dn, 9003);

    const auto ids5 = make_ids(5, kReal.top_k, kReal.experts, Sharing::kRandom, 9004);
    GateUpRun g5;
    g5.n = 5;
    std::vector<float> a1, a2, o1, o2;
    check_gate_up(ex, ids5, g5, 9005, &a1);
    check_gate_up(ex, ids5, g5, 9005, &a2);
    DownRun d5;
    d5.n = 5;
    check_down(ex, ids5, d5, 9006, &o1);
    check_down(ex, ids5, d5, 9006, &o2);
    EXPECT_EQ(std::memcmp(a1.data(), a2.data(), a1.size() * 4), 0) << format_name(f) << " gate_up not deterministic";
    EXPECT_EQ(std::memcmp(o1.data(), o2.data(), o1.size() * 4), 0) << format_name(f) << " down not deterministic";
  }
}

// The three launches captured in a CUDA graph (ids only on the device) give
// the same results as direct launches, for new logits on each replay.
TEST(GpuMoeDecode, GraphCaptureMatchesDirect) {
  const MoeShape s{16, 4, 256, 128};
  Experts ex;
  build_experts(WFormat::kBF16, s, 16, 9100, ex);
  ASSERT_FALSE(HasFatalFailure());
  const int64_t n = 3, nk = n * s.top_k;
  DeviceBuffer d_logits(static_cast<size_t>(n * s.experts) * 4), d_ids(static_cast<size_t>(nk) * 4),
      d_w(static_cast<size_t>(nk) * 4);
  DeviceBuffer d_x = to_device(make_acts(n, s.hidden, s.hidden, 9101));
  DeviceBuffer d_act(static_cast<size_t>(nk * s.inter) * 4), d_out(static_cast<size_t>(n * s.hidden) * 4);
  cudaStream_t stream;
  QL_GPU_ASSERT(cudaStreamCreate(&stream));
  auto enqueue = [&]() {
    cudaError_t e = launch_moe_route(d_logits.get<float>(), s.experts, n, static_cast<int>(s.experts), s.top_k,
                                     d_ids.get<int32_t>(), d_w.get<float>(), stream);
    if (e == cudaSuccess)
      e = launch_moe_gate_up(ex.gu_dev.w, d_x.get<float>(), s.hidden, n, d_ids.get<int32_t>(), s.top_k, nullptr,
                             d_act.get<float>(), stream);
    if (e == cudaSuccess)
      e = launch_moe_down(ex.dn_dev.w, d_act.get<float>(), n, d_ids.get<int32_t>(), d_w.get<float>(), s.top_k,
                          nullptr, d_out.get<float>(), s.hidden, false, stream);
    return e;
  };
  cudaGraph_t graph;
  QL_GPU_ASSERT(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  const cudaError_t captured = enqueue();
  QL_GPU_ASSERT(cudaStreamEndCapture(stream, &graph));
  QL_GPU_ASSERT(captured);
  cudaGraphExec_t exec;
  QL_GPU_ASSERT(cudaGraphInstantiate(&exec, graph, 0));
  for (uint32_t replay = 0; replay < 3; ++replay) {
    const auto logits = random_floats(static_cast<size_t>(n * s.experts), 9200 + replay, -3.0f, 3.0f);
    QL_GPU_ASSERT(cudaMemcpy(d_logits.get(), logits.data(), logits.size() * 4, cudaMemcpyHostToDevice));
    poison_f32(d_out);
    QL_GPU_ASSERT(cudaGraphLaunch(exec, stream));
    QL_GPU_ASSERT(cudaStreamSynchronize(stream));
    const auto graph_out = to_host<float>(d_out, static_cast<size_t>(n * s.hidden));
    poison_f32(d_out);
    QL_GPU_ASSERT(enqueue());
    QL_GPU_ASSERT(cudaStreamSynchronize(stream));
    const auto direct_out = to_host<float>(d_out, static_cast<size_t>(n * s.hidden));
    EXPECT_EQ(count_nan(graph_out), 0u);
    EXPECT_EQ(std::memcmp(graph_out.data(), direct_out.data(), graph_out.size() * 4), 0) << "replay " << replay;
  }
  QL_GPU_ASSERT(cudaGraphExecDestroy(exec));
  QL_GPU_ASSERT(cudaGraphDestroy(graph));
  QL_GPU_ASSERT(cudaStreamDestroy(stream));
  QL_GPU_ASSERT(cudaGetLastError());
}

// Bad arguments are refused without launching.
TEST(GpuMoeDecode, RejectsBadArguments) {
  DeviceWeight w;
  w.format = WFormat::kBF16;
  w.rows = w.stored_rows = 8;
  w.cols = 64;
  w.stack = 2;
  DeviceBuffer buf(8 * 64 * 2 * 2 + 4096);
  w.data = buf.get();
  float* f = buf.get<float>();
  const int32_t* ids = buf.get<int32_t>();
  EXPECT_EQ(launch_moe_gate_up(w, f, 64, 0, ids, 1, nullptr, f, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_moe_gate_up(w, f, 64, kMoeDecodeMaxTokens + 1, ids, 1, nullptr, f, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_moe_gate_up(w, f, 63, 1, ids, 1, nullptr, f, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_moe_down(w, f, 1, ids, f, 0, nullptr, f, 8, false, nullptr), cudaErrorInvalidValue);
  DeviceWeight w8 = w;
  w8.format = WFormat::kInt8;
  w8.codes = buf.get<int8_t>();
  w8.scb = f;
  EXPECT_EQ(launch_moe_gate_up(w8, f, 64, 1, ids, 1, nullptr, f, nullptr), cudaErrorInvalidValue);  // no xq
  EXPECT_EQ(launch_moe_route(f, 4, 1, 8, 2, buf.get<int32_t>(), f, nullptr), cudaErrorInvalidValue);  // ldl < experts
  EXPECT_EQ(launch_moe_route(f, 2000, 1, 1025, 2, buf.get<int32_t>(), f, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_moe_route(f, 8, 1, 8, 9, buf.get<int32_t>(), f, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// ------------------------------------------------------------------ timing

// Bytes of one expert matrix [rows, cols] as stored.
double matrix_bytes(WFormat f, int64_t rows, int64_t cols) {
  const double numel = static_cast<double>(rows) * static_cast<double>(cols);
  switch (f) {
    case WFormat::kF32: return numel * 4;
    case WFormat::kBF16:
    case WFormat::kF16: return numel * 2;
    case WFormat::kInt8: return numel + 4.0 * rows;
    case WFormat::kNF4: {
      const double blocks = std::ceil(numel / 64);
      return std::ceil(numel / 2) + blocks + 4.0 * std::ceil(blocks / 256) + 4;
    }
  }
  return 0;
}

float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Real shape, n = 1 and 8, each format: median time of 20 launches after 3
// warm-ups, each launch on another set of experts (the selected experts of
// one NF4 launch, ~19 MB, would otherwise sit in the 50 MB L2), and the
// bandwidth counted as the bytes of the distinct selected experts' weights.
TEST(GpuMoeDecode, Timing) {
  const MoeShape s = kReal;
  const int k = s.top_k;
  constexpr int kRotations = 16, kWarmup = 3, kRuns = 20;
  for (WFormat f : {WFormat::kBF16, WFormat::kF16, WFormat::kInt8, WFormat::kNF4, WFormat::kF32}) {
    Experts ex;
    build_experts(f, s, 16, 9500, ex);
    ASSERT_FALSE(HasFatalFailure());
    const bool int8 = f == WFormat::kInt8;
    for (int64_t n : {1, 8}) {
      const int64_t nk = n * k;
      // Id sets: for n = 1 the 16 disjoint groups of 8 experts, else random.
      std::vector<int32_t> all_ids;
      std::vector<int64_t> distinct(kRotations);
      for (int r = 0; r < kRotations; ++r) {
        std::vector<int32_t> ids;
        if (n == 1) {
          for (int s_ = 0; s_ < k; ++s_) ids.push_back(static_cast<int32_t>(r * k + (s_ * 5 + r) % k));
        } else {
          ids = make_ids(n, k, s.experts, Sharing::kRandom, 9600 + r);
        }
        distinct[r] = static_cast<int64_t>(std::set<int32_t>(ids.begin(), ids.end()).size());
        all_ids.insert(all_ids.end(), ids.begin(), ids.end());
      }
      // Correctness on this configuration (first id set) before timing it.
      const std::vector<int32_t> ids0(all_ids.begin(), all_ids.begin() + nk);
      GateUpRun gu;
      gu.n = n;
      check_gate_up(ex, ids0, gu, 9700);
      DownRun dn;
      dn.n = n;
      check_down(ex, ids0, dn, 9701);

      const std::vector<float> x = make_acts(n, s.hidden, s.hidden, 9702);
      const std::vector<float> act = make_acts(nk, s.inter, s.inter, 9703);
      const std::vector<float> weights(static_cast<size_t>(nk), 1.0f / k);
      DeviceBuffer d_ids = to_device(all_ids), d_x = to_device(x), d_act = to_device(act), d_w = to_device(weights);
      DeviceBuffer d_act_out(static_cast<size_t>(nk * s.inter) * 4), d_out(static_cast<size_t>(n * s.hidden) * 4);
      DeviceInt8Acts xq, aq;
      if (int8) {
        make_device_acts(x, n, s.hidden, s.hidden, 0, xq);
        make_device_acts(act, nk, s.inter, s.inter, 0, aq);
      }
      cudaEvent_t start, stop;
      QL_GPU_ASSERT(cudaEventCreate(&start));
      QL_GPU_ASSERT(cudaEventCreate(&stop));
      for (int which = 0; which < 2; ++which) {  // 0: gate_up, 1: down
        std::vector<float> times;
        double bytes = 0;
        for (int i = 0; i < kWarmup + kRuns; ++i) {
          const int r = i % kRotations;
          const int32_t* ids = d_ids.get<int32_t>() + r * nk;
          QL_GPU_ASSERT(cudaEventRecord(start));
          const cudaError_t e =
              which == 0 ? launch_moe_gate_up(ex.gu_dev.w, d_x.get<float>(), s.hidden, n, ids, k,
                                              int8 ? &xq.q : nullptr, d_act_out.get<float>(), nullptr)
                         : launch_moe_down(ex.dn_dev.w, d_act.get<float>(), n, ids, d_w.get<float>(), k,
                                           int8 ? &aq.q : nullptr, d_out.get<float>(), s.hidden, false, nullptr);
          QL_GPU_ASSERT(e);
          QL_GPU_ASSERT(cudaEventRecord(stop));
          QL_GPU_ASSERT(cudaEventSynchronize(stop));
          float ms = 0;
          QL_GPU_ASSERT(cudaEventElapsedTime(&ms, start, stop));
          if (i >= kWarmup) {
            times.push_back(ms);
            bytes += static_cast<double>(distinct[r]) *
                     (which == 0 ? matrix_bytes(f, 2 * s.inter, s.hidden) : matrix_bytes(f, s.hidden, s.inter));
          }
        }
        bytes /= kRuns;
        const double ms = median(times);
        std::printf("TIMING moe_%s %s n=%lld: %.2f us, %.0f GB/s of expert weights (%.1f MB, %.1f experts)\n",
                    which == 0 ? "gate_up" : "down", format_name(f), static_cast<long long>(n), ms * 1e3,
                    bytes / (ms * 1e-3) / 1e9, bytes / 1e6, bytes / (which == 0 ? matrix_bytes(f, 2 * s.inter, s.hidden)
                                                                           : matrix_bytes(f, s.hidden, s.inter)));
      }
      QL_GPU_ASSERT(cudaEventDestroy(start));
      QL_GPU_ASSERT(cudaEventDestroy(stop));
      QL_GPU_ASSERT(cudaGetLastError());
    }
  }
}

}  // namespace
