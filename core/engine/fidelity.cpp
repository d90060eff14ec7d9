#include "core/engine/fidelity.h"

#include <algorithm>
#include <cmath>

namespace ql::engine {
namespace {

// log(sum_i exp(x_i)) with the max taken out first, so no exp overflows.
double log_sum_exp(std::span<const float> x) {
  double max = x[0];
  for (float v : x) max = std::max(max, static_cast<double>(v));
  double sum = 0;
  for (float v : x) sum += std::exp(static_cast<double>(v) - max);
  return max + std::log(sum);
}

Status check_finite(std::span<const float> row, const char* which) {
  for (size_t i = 0; i < row.size(); ++i) {
    if (!std::isfinite(row[i])) return err("the {} logit {} is {}, not a finite number", which, i, row[i]);
  }
  return {};
}

}  // namespace

Result<double> kl_divergence(std::span<const float> ref_logits, std::span<const float> q_logits) {
  if (ref_logits.size() != q_logits.size()) {
    return err("logit rows differ in length: reference {} vs compared {}", ref_logits.size(), q_logits.size());
  }
  if (ref_logits.empty()) return err("logit rows are empty");
  QL_TRY(check_finite(ref_logits, "reference"));
  QL_TRY(check_finite(q_logits, "compared"));
  const double lse_ref = log_sum_exp(ref_logits), lse_q = log_sum_exp(q_logits);
  double kl = 0;
  for (size_t i = 0; i < ref_logits.size(); ++i) {
    const double log_p = static_cast<double>(ref_logits[i]) - lse_ref;
    const double log_q = static_cast<double>(q_logits[i]) - lse_q;
    kl += std::exp(log_p) * (log_p - log_q);
  }
  // KL >= 0 exactly (Gibbs); a sum of rounded terms of nearly equal rows can
  // land a few ulps below zero, which would read as "better than identical".
  return std::max(0.0, kl);
}

size_t argmax_first(std::span<const float> logits) {
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;  // strict: the first maximum wins ties
  }
  return best;
}

}  // namespace ql::engine
