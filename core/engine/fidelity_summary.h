#pragma once
// Fidelity over many positions (all positions of all prompts of one
// precision): mean and 99th-percentile KL divergence and top-1 agreement.
#include <cstdint>
#include <span>
#include <vector>

#include "core/common/result.h"

namespace ql::engine {

// The nearest-rank percentile: with the n values sorted ascending, the one of
// 1-based rank ceil(percent * n / 100) — the smallest value that at least
// `percent`% of the values do not exceed; always one of the values, never an
// interpolation. Errors: no values, or percent outside 1..100.
Result<double> nearest_rank_percentile(std::span<const double> values, int percent);

struct FidelitySummary {
  int64_t positions = 0;      // compared next-token distributions
  double kl_mean = 0;         // nats
  double kl_p99 = 0;          // nats, nearest rank
  double top1_agreement = 0;  // fraction of positions whose argmax equals the reference's
};

// Collects one precision's per-position results.
class FidelityTally {
 public:
  void add(double kl, bool top1_equal);
  // Errors when nothing was added.
  Result<FidelitySummary> summary() const;

 private:
  std::vector<double> kl_;
  int64_t agreeing_ = 0;
};

}  // namespace ql::engine
