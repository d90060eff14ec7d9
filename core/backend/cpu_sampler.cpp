// sample_row(): the next token from one row of logits (docs/model.md §10), in Hugging
// Face's order: repetition penalty, presence penalty, then (unless greedy)
// temperature, top-k, top-p, min-p, and a draw by the cumulative distribution
// in token order with the caller's uniform number.
//
// The filters shrink a list of candidate tokens instead of masking the whole
// vocabulary, so the usual top-k = 20 costs little after the first step.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/backend/cpu_sampler.h"

#include "core/backend/cpu_check.h"

namespace ql::backend::cpu {

namespace {

// Penalties act once per distinct token seen (HF gathers and scatters by
// token id, so a repeated token is not penalised twice).
void apply_penalties(std::vector<float>& logits, const SamplingParams& p, std::span<const int32_t> seen) {
  if (p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f) return;
  if (seen.empty()) return;
  QL_CPU_REQUIRE(seen.size() == logits.size(), "sample: seen mask of {} entries for {} logits", seen.size(),
                 logits.size());
  for (size_t t = 0; t < logits.size(); ++t) {
    if (seen[t] == 0) continue;
    float& l = logits[t];
    if (p.repetition_penalty != 1.0f) l = l < 0 ? l * p.repetition_penalty : l / p.repetition_penalty;
    l -= p.presence_penalty;
  }
}

// A token still in the running, with its (penalised, tempered) logit kept
// beside the id so that sorting reads no other memory.
struct Candidate {
  float logit;
  int32_t id;
};

// Higher logit first; equal logits: lower token id first.
bool more_likely(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

class Candidates {
 public:
  explicit Candidates(const std::vector<float>& logits) : c_(logits.size()) {
    for (size_t i = 0; i < logits.size(); ++i) c_[i] = {logits[i], static_cast<int32_t>(i)};
  }

  // HF TopK: drop every token below the k-th largest logit (ties with it stay).
  void top_k(int k) {
    if (k <= 0 || static_cast<size_t>(k) >= c_.size()) return;
    std::nth_element(c_.begin(), c_.begin() + (k - 1), c_.end(), more_likely);
    const float kth = c_[k - 1].logit;
    std::erase_if(c_, [&](const Candidate& c) { return c.logit < kth; });
  }

  // HF TopP: keep the most probable tokens until their mass reaches p (the
  // token that crosses p stays; at least one always stays). Sorts only as
  // long a prefix as it needs, growing it, so a peaked distribution is cheap.
  void top_p(float p) {
    if (p >= 1.0f) return;
    const double max_logit = max_logit_of_candidates();
    double total = 0;
    for (const Candidate& c : c_) total += std::exp(c.logit - max_logit);
    const double target = p * total;
    double mass = 0;
    size_t done = 0;  // c_[0, done) is sorted and its mass counted
    for (size_t sorted = std::min<size_t>(256, c_.size());; sorted = std::min(c_.size(), 4 * sorted)) {
      std::partial_sort(c_.begin() + static_cast<std::ptrdiff_t>(done), c_.begin() + static_cast<std::ptrdiff_t>(sorted),
                        c_.end(), more_likely);
      for (; done < sorted; ++done) {
        mass += std::exp(c_[done].logit - max_logit);
        if (mass >= target) {
          c_.resize(done + 1);
          return;
        }
      }
      if (sorted == c_.size()) return;  // rounding: p never reached, keep all
    }
  }

  // HF MinP: drop tokens less probable than min_p times the most probable one,
  // i.e. with exp(logit - max logit) < min_p.
  void min_p(float min_p) {
    if (min_p <= 0.0f) return;
    const double max_logit = max_logit_of_candidates();
    std::erase_if(c_, [&](const Candidate& c) { return std::exp(c.logit - max_logit) < min_p; });
  }

  // The token where the cumulative probability, in token order, passes uniform.
  int32_t draw(double uniform) {
    const auto by_id = [](const Candidate& a, const Candidate& b) { return a.id < b.id; };
    if (!std::is_sorted(c_.begin(), c_.end(), by_id)) std::sort(c_.begin(), c_.end(), by_id);
    const double max_logit = max_logit_of_candidates();
    std::vector<double> weight(c_.size());
    for (size_t i = 0; i < c_.size(); ++i) weight[i] = std::exp(c_[i].logit - max_logit);
    const double target = uniform * std::accumulate(weight.begin(), weight.end(), 0.0);
    double cumulative = 0;
    for (size_t i = 0; i < c_.size(); ++i) {
      cumulative += weight[i];
      if (cumulative > target) return c_[i].id;
    }
    return c_.back().id;  // rounding left the target at the very end
  }

 private:
  double max_logit_of_candidates() const {
    float m = c_.front().logit;
    for (const Candidate& c : c_) m = std::max(m, c.logit);
    return m;
  }

  std::vector<Candidate> c_;  // never empty: every filter keeps the most likely token
};

}  // namespace

int32_t sample_row(std::span<const float> row, const SamplingParams& p, std::span<const int32_t> seen,
                   double uniform) {
  QL_CPU_REQUIRE(!row.empty(), "sample: empty logits row");
  QL_CPU_REQUIRE(uniform >= 0.0 && uniform <= 1.0, "sample: uniform {} outside [0, 1]", uniform);
  std::vector<float> logits(row.begin(), row.end());
  apply_penalties(logits, p, seen);
  if (p.temperature <= 0.0f)  // greedy: the first maximum
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  for (float& l : logits) l /= p.temperature;
  Candidates c(logits);
  c.top_k(p.top_k);
  c.top_p(p.top_p);
  c.min_p(p.min_p);
  return c.draw(uniform);
}

std::vector<int32_t> seen_mask(std::span<const int32_t> history, int64_t vocab) {
  std::vector<int32_t> seen(static_cast<size_t>(vocab), 0);
  for (size_t i = 0; i < history.size(); ++i) {
    const int32_t t = history[i];
    QL_CPU_REQUIRE(t >= 0 && t < vocab, "sample: history token {} (entry {}) outside [0, {})", t, i, vocab);
    seen[static_cast<size_t>(t)] = 1;
  }
  return seen;
}

}  // namespace ql::backend::cpu
