// sample(): greedy, penalties, temperature, top-k, top-p, min-p and the draw
// by cumulative distribution, on logits whose probabilities are easy.
#include "core/backend/cpu_sampler.h"
#include "tests/unit/test_cpu_helpers.h"

namespace ql::backend::test {
namespace {

class CpuSampler : public ::testing::Test {
 protected:
  // Through the backend's sample op: the settings and draw in an input
  // tensor, the history as a seen mask (which gets the picked token marked).
  int32_t pick(const std::vector<float>& logits, const SamplingParams& p, std::vector<int32_t> history = {},
               double uniform = 0.5) {
    const auto vocab = static_cast<int64_t>(logits.size());
    auto t = tensor_from(*be_, 1, vocab, logits);
    auto inputs = be_->new_tensor(DType::kI32, 1, kSamplingInputsWords);
    const SamplingInputs in = sampling_inputs(p, uniform);
    be_->write(*inputs, &in, sizeof in);
    auto seen = be_->new_tensor(DType::kI32, 1, vocab);
    const std::vector<int32_t> mask = cpu::seen_mask(history, vocab);
    be_->write(*seen, mask.data(), mask.size() * 4);
    auto token = be_->new_tensor(DType::kI32, 1, 1);
    be_->sample(*t, *inputs, seen.get(), *token);
    int32_t id = -1;
    be_->read(*token, &id, 4);
    std::vector<int32_t> after(static_cast<size_t>(vocab));
    be_->read(*seen, after.data(), after.size() * 4);
    EXPECT_EQ(after[static_cast<size_t>(id)], 1) << "the picked token is marked seen";
    return id;
  }
  // Logits whose softmax is `probs` (at temperature 1).
  static std::vector<float> logits_of(const std::vector<double>& probs) {
    std::vector<float> l;
    for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
    return l;
  }
  static SamplingParams sampling(float temperature = 1.0f) {
    SamplingParams p;
    p.temperature = temperature;
    return p;
  }
  std::unique_ptr<Backend> be_ = make_cpu_backend(2);
};

TEST_F(CpuSampler, GreedyTakesTheFirstMaximum) {
  SamplingParams p = sampling(0.0f);
  EXPECT_EQ(pick({1.0f, 3.0f, 3.0f, 2.0f}, p), 1);
  EXPECT_EQ(pick({-5.0f, -4.0f, -6.0f}, p), 1);
  // The uniform draw plays no part.
  EXPECT_EQ(pick({1.0f, 3.0f, 3.0f, 2.0f}, p, {}, 0.999), 1);
}

TEST_F(CpuSampler, TopKOneAndTinyTopPAreGreedy) {
  const auto logits = logits_of({0.1, 0.2, 0.4, 0.3});
  for (double u : {0.0, 0.3, 0.7, 0.999}) {
    SamplingParams k1 = sampling(0.8f);
    k1.top_k = 1;
    EXPECT_EQ(pick(logits, k1, {}, u), 2) << u;
    SamplingParams tiny_p = sampling(1.3f);
    tiny_p.top_p = 1e-6f;
    EXPECT_EQ(pick(logits, tiny_p, {}, u), 2) << u;
  }
}

TEST_F(CpuSampler, DrawFollowsTheCumulativeDistribution) {
  // In token order the cumulative distribution is 0.1, 0.3, 1.0.
  const auto logits = logits_of({0.1, 0.2, 0.7});
  const SamplingParams p = sampling(1.0f);
  EXPECT_EQ(pick(logits, p, {}, 0.0), 0);
  EXPECT_EQ(pick(logits, p, {}, 0.05), 0);
  EXPECT_EQ(pick(logits, p, {}, 0.15), 1);
  EXPECT_EQ(pick(logits, p, {}, 0.29), 1);
  EXPECT_EQ(pick(logits, p, {}, 0.31), 2);
  EXPECT_EQ(pick(logits, p, {}, 0.999), 2);
  // Deterministic: the same uniform gives the same token.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(pick(logits, p, {}, 0.2), 1);
  // Over an even grid of uniforms the counts follow the probabilities.
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 1000; ++i) ++counts[pick(logits, p, {}, (i + 0.5) / 1000.0)];
  EXPECT_EQ(counts, (std::vector<int>{100, 200, 700}));
}

TEST_F(CpuSampler, TemperatureSharpens) {
  // Probabilities 1/4, 3/4 at T = 1 become 1/10, 9/10 at T = 0.5.
  const auto logits = logits_of({0.25, 0.75});
  const SamplingParams p = sampling(0.5f);
  EXPECT_EQ(pick(logits, p, {}, 0.09), 0);
  EXPECT_EQ(pick(logits, p, {}, 0.11), 1);
  EXPECT_EQ(pick(logits, sampling(1.0f), {}, 0.11), 0);
}

TEST_F(CpuSampler, TopKKeepsTheKLargest) {
  // Top 2 of 0.1, 0.2, 0.7: tokens 1 and 2 renormalised to 2/9, 7/9.
  const auto logits = logits_of({0.1, 0.2, 0.7});
  SamplingParams p = sampling(1.0f);
  p.top_k = 2;
  EXPECT_EQ(pick(logits, p, {}, 0.0), 1);
  EXPECT_EQ(pick(logits, p, {}, 0.2), 1);
  EXPECT_EQ(pick(logits, p, {}, 0.25), 2);
}

TEST_F(CpuSampler, TopKKeepsTiesWithTheKth) {
  // As HF: tokens equal to the k-th largest logit stay, here 1 and 2 at 1/2 each.
  SamplingParams p = sampling(1.0f);
  p.top_k = 1;
  EXPECT_EQ(pick({1.0f, 2.0f, 2.0f, 0.0f}, p, {}, 0.25), 1);
  EXPECT_EQ(pick({1.0f, 2.0f, 2.0f, 0.0f}, p, {}, 0.75), 2);
}

TEST_F(CpuSampler, TopPKeepsTheSmallestSetReachingP) {
  const auto logits = logits_of({0.1, 0.2, 0.7});
  SamplingParams p = sampling(1.0f);
  p.top_p = 0.6f;  // 0.7 alone reaches it
  for (double u : {0.0, 0.5, 0.99}) EXPECT_EQ(pick(logits, p, {}, u), 2) << u;
  p.top_p = 0.8f;  // 0.7 does not; 0.7 + 0.2 does: tokens 1, 2 as 2/9, 7/9
  EXPECT_EQ(pick(logits, p, {}, 0.0), 1);
  EXPECT_EQ(pick(logits, p, {}, 0.2), 1);
  EXPECT_EQ(pick(logits, p, {}, 0.25), 2);
}

TEST_F(CpuSampler, MinPDropsTheUnlikely) {
  const auto logits = logits_of({0.1, 0.2, 0.7});
  SamplingParams p = sampling(1.0f);
  p.min_p = 0.2f;  // threshold 0.14: token 0 goes, tokens 1, 2 as 2/9, 7/9
  EXPECT_EQ(pick(logits, p, {}, 0.0), 1);
  EXPECT_EQ(pick(logits, p, {}, 0.25), 2);
  p.min_p = 0.3f;  // threshold 0.21: token 1 goes too
  EXPECT_EQ(pick(logits, p, {}, 0.0), 2);
}

TEST_F(CpuSampler, RepetitionPenaltyChangesTheArgmax) {
  SamplingParams p = sampling(0.0f);
  p.repetition_penalty = 1.2f;
  // Positive logits are divided: 2.0 / 1.2 = 1.67 < 1.9.
  EXPECT_EQ(pick({2.0f, 1.9f, -1.0f}, p), 0);  // no history: no penalty
  EXPECT_EQ(pick({2.0f, 1.9f, -1.0f}, p, {0}), 1);
  // Negative logits are multiplied: -1.0 * 1.2 = -1.2 < -1.1.
  EXPECT_EQ(pick({-1.0f, -1.1f}, p, {0}), 1);
  // With sampling, top_k = 1 sees the penalised logits as well.
  SamplingParams s = sampling(0.7f);
  s.top_k = 1;
  s.repetition_penalty = 1.2f;
  EXPECT_EQ(pick({2.0f, 1.9f, -1.0f}, s, {0, 2}, 0.3), 1);
}

TEST_F(CpuSampler, PresencePenaltyAppliesOncePerToken) {
  SamplingParams p = sampling(0.0f);
  p.presence_penalty = 0.5f;
  // 1.0 - 0.5 = 0.5 > 0.4 keeps token 0 even though it appeared twice.
  EXPECT_EQ(pick({1.0f, 0.4f}, p, {0, 0}), 0);
  // 1.0 - 0.5 = 0.5 < 0.6 gives the argmax to token 1.
  EXPECT_EQ(pick({1.0f, 0.6f}, p, {0}), 1);
}

}  // namespace
}  // namespace ql::backend::test
