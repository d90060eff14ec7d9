// moe(): the sparse MoE block of docs/model.md §9.5 in one op. Route every token
// (fp32 softmax over all experts, top-k, renormalise), group the tokens by
// expert so that each expert's weights are decoded once per call, run the
// experts in parallel, then sum each token's expert outputs in top-k order.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/backend/cpu_check.h"
#include "core/backend/cpu_matmul.h"
#include "core/backend/cpu_ops.h"
#include "core/backend/cpu_scratch.h"
#include "core/backend/cpu_tensor.h"

namespace ql::backend::cpu {

namespace {

struct Route {
  std::vector<int32_t> expert;  // [tokens, top_k], highest weight first
  std::vector<float> weight;    // renormalised over the top k
};

// One token's choice: probabilities softmax(logits) in fp32, the k largest in
// descending order (ties: lower expert index first, as torch.topk on CPU),
// weights divided by their sum.
void route_token(const float* logits, int64_t experts, int top_k, int32_t* chosen, float* weight,
                 std::vector<float>& probs, std::vector<int32_t>& order) {
  const float max_logit = *std::max_element(logits, logits + experts);
  float sum = 0;
  for (int64_t e = 0; e < experts; ++e) sum += probs[e] = std::exp(logits[e] - max_logit);
  for (int64_t e = 0; e < experts; ++e) probs[e] /= sum;
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](int32_t a, int32_t b) {
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
  });
  float top_sum = 0;
  for (int i = 0; i < top_k; ++i) top_sum += probs[order[i]];
  for (int i = 0; i < top_k; ++i) {
    chosen[i] = order[i];
    weight[i] = probs[order[i]] / top_sum;
  }
}

void check_weights(const MoeWeights& w, int64_t hidden) {
  QL_CPU_REQUIRE(w.router != nullptr && w.gate_up != nullptr && w.down != nullptr, "moe: missing router or experts");
  const CpuWeight& router = weight_arg(*w.router, "moe", "router");
  const CpuWeight& gu = weight_arg(*w.gate_up, "moe", "gate_up");
  const CpuWeight& down = weight_arg(*w.down, "moe", "down");
  const int64_t experts = router.rows();
  QL_CPU_REQUIRE(router.cols() == hidden, "moe: router {} {} does not fit hidden size {}", router.name(),
                 shape_of(router), hidden);
  QL_CPU_REQUIRE(gu.stack() == experts && down.stack() == experts,
                 "moe: router {} has {} experts but {} has {} and {} has {}", router.name(), experts, gu.name(),
                 gu.stack(), down.name(), down.stack());
  QL_CPU_REQUIRE(w.top_k >= 1 && w.top_k <= experts, "moe: top_k {} outside [1, {}]", w.top_k, experts);
  const int64_t inter = gu.rows() / 2;
  QL_CPU_REQUIRE(gu.rows() == 2 * inter && gu.cols() == hidden, "moe: {} {} must be [{}, {}]", gu.name(),
                 shape_of(gu), 2 * inter, hidden);
  QL_CPU_REQUIRE(down.rows() == hidden && down.cols() == inter, "moe: {} {} must be [{}, {}]", down.name(),
                 shape_of(down), hidden, inter);
}

}  // namespace

void moe(ThreadPool& pool, const Tensor& x_, const MoeWeights& w, Tensor& out_, bool accumulate,
         const MatmulSettings& settings) {
  const CpuTensor& x = f32_arg(x_, "moe", "x");
  CpuTensor& out = f32_arg(out_, "moe", "out");
  QL_CPU_REQUIRE(out.rows() == x.rows() && out.cols() == x.cols(), "moe: out {} for x {}", shape_of(out), shape_of(x));
  const int64_t tokens = x.rows(), hidden = x.cols();
  check_weights(w, hidden);
  const CpuWeight& router = weight_arg(*w.router, "moe", "router");
  const int64_t experts = router.rows(), top_k = w.top_k;
  const int64_t inter = w.gate_up->rows() / 2;
  const CpuWeight& gate_up_stack = weight_arg(*w.gate_up, "moe", "gate_up");
  const CpuWeight& down_stack = weight_arg(*w.down, "moe", "down");

  // 1. Route.
  std::vector<float> logits(static_cast<size_t>(tokens * experts));
  multiply_weight(pool, x.f32(), tokens, router, nullptr, logits.data(), settings);
  Route route{std::vector<int32_t>(static_cast<size_t>(tokens * top_k)),
              std::vector<float>(static_cast<size_t>(tokens * top_k))};
  {
    std::vector<float> probs(static_cast<size_t>(experts));
    std::vector<int32_t> order(static_cast<size_t>(experts));
    for (int64_t t = 0; t < tokens; ++t)
      route_token(&logits[t * experts], experts, w.top_k, &route.expert[t * top_k], &route.weight[t * top_k], probs,
                  order);
  }

  // 2. Group: the (token, slot) pairs of each expert, in token order.
  std::vector<std::vector<int64_t>> slots_of(static_cast<size_t>(experts));
  for (int64_t s = 0; s < tokens * top_k; ++s) slots_of[route.expert[s]].push_back(s);
  std::vector<int64_t> active;
  for (int64_t e = 0; e < experts; ++e)
    if (!slots_of[e].empty()) active.push_back(e);

  // 3. Experts in parallel. Each writes its unweighted outputs into the slots
  // it owns, so no two threads touch the same memory.
  std::vector<float> expert_out(static_cast<size_t>(tokens * top_k * hidden));
  pool.run(static_cast<int64_t>(active.size()), [&](int64_t a) {
    const int64_t e = active[a];
    const std::vector<int64_t>& slots = slots_of[e];
    const auto m = static_cast<int64_t>(slots.size());
    const CpuWeight& gate_up = gate_up_stack.matrix(e);
    const CpuWeight& down = down_stack.matrix(e);
    float* in = thread_scratch(Scratch::kExpertInput, static_cast<size_t>(m * hidden));
    float* gate = thread_scratch(Scratch::kExpertGate, static_cast<size_t>(m * inter));
    float* up = thread_scratch(Scratch::kExpertUp, static_cast<size_t>(m * inter));
    float* y = thread_scratch(Scratch::kExpertOutput, static_cast<size_t>(m * hidden));
    for (int64_t i = 0; i < m; ++i) std::copy_n(x.row(slots[i] / top_k), hidden, in + i * hidden);
    multiply_weight_rows(in, m, gate_up, 0, inter, gate, inter, settings);      // rows [0, I): gate
    multiply_weight_rows(in, m, gate_up, inter, inter, up, inter, settings);    // rows [I, 2I): up
    for (int64_t i = 0; i < m * inter; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    multiply_weight_rows(gate, m, down, 0, hidden, y, hidden, settings);
    for (int64_t i = 0; i < m; ++i) std::copy_n(y + i * hidden, hidden, &expert_out[slots[i] * hidden]);
  });

  // 4. out = sum_i w_i * y_i, in top-k order (deterministic for any thread
  // count); with accumulate, that sum is then added to out (the residual add).
  parallel_for(pool, tokens, 2.0 * static_cast<double>(top_k * hidden), [&](int64_t t0, int64_t t1) {
    std::vector<float> sum(static_cast<size_t>(hidden));
    for (int64_t t = t0; t < t1; ++t) {
      std::fill(sum.begin(), sum.end(), 0.0f);
      for (int64_t s = t * top_k; s < (t + 1) * top_k; ++s) {
        const float wt = route.weight[s];
        const float* ys = &expert_out[s * hidden];
        for (int64_t c = 0; c < hidden; ++c) sum[c] += wt * ys[c];
      }
      float* o = out.row(t);
      for (int64_t c = 0; c < hidden; ++c) o[c] = accumulate ? o[c] + sum[c] : sum[c];
    }
  });
}

}  // namespace ql::backend::cpu
