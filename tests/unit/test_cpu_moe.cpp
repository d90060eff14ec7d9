// moe(): routing (softmax, top-k with ties to the lower index, renormalised
// weights) by hand, and the whole block against a double reference with
// experts uploaded in the published transposed layout.
#include <algorithm>
#include <numeric>

#include "tests/unit/test_cpu_helpers.h"

namespace ql::backend::test {
namespace {

// Three experts of hidden 2, intermediate 1, each with a known output for
// x = [1, 0]: gate = 20 so silu(gate) = 20 in fp32, up = 0.05, so a = 1 and
// y_e = down_e = [e + 1, 10 (e + 1)].
MoeWeights three_experts(HostWeights& hw, const std::vector<float>& router_logits_for_x) {
  MoeWeights w;
  std::vector<float> router;
  for (float l : router_logits_for_x) router.insert(router.end(), {l, 0.0f});
  w.router = hw.upload(router, 3, 2);
  std::vector<std::vector<float>> gate_up, down;
  for (int e = 0; e < 3; ++e) {
    gate_up.push_back({20.0f, 0.0f, 0.05f, 0.0f});
    down.push_back({float(e + 1), float(10 * (e + 1))});
  }
  w.gate_up = hw.upload_stack(gate_up, 2, 2);
  w.down = hw.upload_stack(down, 2, 1);
  w.top_k = 2;
  return w;
}

TEST(CpuMoe, TopKRenormalisationByHand) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  // Logits ln 1, ln 2, ln 3 -> probabilities 1/6, 2/6, 3/6; the top 2 are
  // experts 2 and 1, renormalised to 3/5 and 2/5:
  // out = 3/5 [3, 30] + 2/5 [2, 20] = [2.6, 26].
  const MoeWeights w = three_experts(hw, {0.0f, std::log(2.0f), std::log(3.0f)});
  auto x = tensor_from(*be, 1, 2, {1.0f, 0.0f});
  auto out = poisoned(*be, 1, 2);
  be->moe(*x, w, *out, false);
  expect_close(read_all(*be, *out), {2.6, 26.0}, 1e-6);
}

TEST(CpuMoe, TiesGoToTheLowerExpert) {
  auto be = make_cpu_backend(2);
  HostWeights hw(*be);
  // Equal logits: experts 0 and 1 win with 1/2 each: [1.5, 15].
  const MoeWeights w = three_experts(hw, {0.5f, 0.5f, 0.5f});
  auto x = tensor_from(*be, 1, 2, {1.0f, 0.0f});
  auto out = poisoned(*be, 1, 2);
  be->moe(*x, w, *out, false);
  expect_close(read_all(*be, *out), {1.5, 15.0}, 1e-6);
}

struct HostExperts {
  std::vector<float> router;                 // [E, H]
  std::vector<std::vector<float>> gate_up;   // [2I, H] each
  std::vector<std::vector<float>> down;      // [H, I] each
};

struct MoeReference {
  std::vector<double> value;
  std::vector<double> scale;  // the same sums over absolute values: the size of fp32 rounding
};

MoeReference reference_moe(const std::vector<float>& x, const HostExperts& m, int64_t tokens, int64_t hidden,
                           int64_t inter, int top_k) {
  const auto experts = static_cast<int64_t>(m.gate_up.size());
  MoeReference r{std::vector<double>(tokens * hidden, 0.0), std::vector<double>(tokens * hidden, 0.0)};
  for (int64_t t = 0; t < tokens; ++t) {
    const float* xt = &x[t * hidden];
    std::vector<double> p(experts);
    for (int64_t e = 0; e < experts; ++e) {
      double l = 0;
      for (int64_t c = 0; c < hidden; ++c) l += static_cast<double>(xt[c]) * m.router[e * hidden + c];
      p[e] = l;
    }
    const double mx = *std::max_element(p.begin(), p.end());
    double sum = 0;
    for (double& v : p) sum += v = std::exp(v - mx);
    for (double& v : p) v /= sum;
    std::vector<int64_t> order(experts);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
    double top_sum = 0;
    for (int i = 0; i < top_k; ++i) top_sum += p[order[i]];
    for (int i = 0; i < top_k; ++i) {
      const int64_t e = order[i];
      std::vector<double> a(inter), a_size(inter);
      for (int64_t j = 0; j < inter; ++j) {
        double g = 0, u = 0, g_size = 0, u_size = 0;
        for (int64_t c = 0; c < hidden; ++c) {
          const double gt = static_cast<double>(xt[c]) * m.gate_up[e][j * hidden + c];
          const double ut = static_cast<double>(xt[c]) * m.gate_up[e][(inter + j) * hidden + c];
          g += gt;
          u += ut;
          g_size += std::abs(gt);
          u_size += std::abs(ut);
        }
        a[j] = g / (1.0 + std::exp(-g)) * u;
        a_size[j] = g_size * u_size + std::abs(a[j]);  // |silu(g)| <= |g| + small
      }
      for (int64_t c = 0; c < hidden; ++c) {
        double y = 0, y_size = 0;
        for (int64_t j = 0; j < inter; ++j) {
          y += a[j] * m.down[e][c * inter + j];
          y_size += a_size[j] * std::abs(m.down[e][c * inter + j]);
        }
        r.value[t * hidden + c] += p[e] / top_sum * y;
        r.scale[t * hidden + c] += p[e] / top_sum * y_size;
      }
    }
  }
  return r;
}

TensorPtr x2_of(Backend& be, int64_t rows, int64_t cols, const std::vector<float>& v) {
  return tensor_from(be, rows, cols, v);
}

TEST(CpuMoe, RandomBlockAgainstReference) {
  const int64_t experts = 8, hidden = 32, inter = 12;
  const int top_k = 3;
  for (int threads : {1, 3}) {
    auto be = make_cpu_backend(threads);
    HostWeights hw(*be);
    HostExperts m;
    m.router = exact_values(experts * hidden, 1);
    MoeWeights w;
    w.router = hw.upload(m.router, experts, hidden, WeightFormat::kBF16);
    w.top_k = top_k;
    for (int64_t e = 0; e < experts; ++e) {
      m.gate_up.push_back(exact_values(2 * inter * hidden, 100 + static_cast<uint32_t>(e)));
      m.down.push_back(exact_values(hidden * inter, 200 + static_cast<uint32_t>(e)));
    }
    // The published fused layout stores gate_up[e] as [H, 2I] and down[e] as
    // [I, H]: upload them transposed.
    w.gate_up = hw.upload_stack(m.gate_up, 2 * inter, hidden, WeightFormat::kBF16, /*transposed=*/true);
    w.down = hw.upload_stack(m.down, hidden, inter, WeightFormat::kBF16, /*transposed=*/true);
    for (int64_t tokens : {1, 19}) {
      const auto x_values = random_values(tokens * hidden, 300 + static_cast<uint32_t>(tokens), -0.5f, 0.5f);
      auto x = tensor_from(*be, tokens, hidden, x_values);
      auto out = poisoned(*be, tokens, hidden);
      be->moe(*x, w, *out, false);
      const MoeReference want = reference_moe(x_values, m, tokens, hidden, inter, top_k);
      SCOPED_TRACE(testing::Message() << threads << " threads, " << tokens << " tokens");
      expect_close(read_all(*be, *out), want.value, 1e-5, want.scale);

      // In place (out aliases x) gives the same.
      be->moe(*x, w, *x, false);
      expect_close(read_all(*be, *x), want.value, 1e-5, want.scale);

      // Accumulating adds the block's output to what is there (the residual add).
      auto acc = tensor_from(*be, tokens, hidden, x_values);
      be->moe(*x2_of(*be, tokens, hidden, x_values), w, *acc, true);
      std::vector<double> sum(want.value.size());
      for (size_t i = 0; i < sum.size(); ++i) sum[i] = want.value[i] + x_values[i];
      expect_close(read_all(*be, *acc), sum, 1e-5, want.scale);
    }
  }
}

}  // namespace
}  // namespace ql::backend::test
