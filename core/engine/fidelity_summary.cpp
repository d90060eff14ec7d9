#include "core/engine/fidelity_summary.h"

#include <algorithm>

namespace ql::engine {

Result<double> nearest_rank_percentile(std::span<const double> values, int percent) {
  if (values.empty()) return err("percentile of no values");
  if (percent < 1 || percent > 100) return err("percentile {} is outside 1..100", percent);
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  // ceil(percent * n / 100) in integers: no rounding of 0.99 * n.
  const size_t n = sorted.size();
  const size_t rank = (static_cast<size_t>(percent) * n + 99) / 100;
  return sorted[rank - 1];
}

void FidelityTally::add(double kl, bool top1_equal) {
  kl_.push_back(kl);
  if (top1_equal) ++agreeing_;
}

Result<FidelitySummary> FidelityTally::summary() const {
  if (kl_.empty()) return err("no positions were compared");
  FidelitySummary s;
  s.positions = static_cast<int64_t>(kl_.size());
  double sum = 0;
  for (double v : kl_) sum += v;
  s.kl_mean = sum / static_cast<double>(kl_.size());
  auto p99 = nearest_rank_percentile(kl_, 99);
  if (!p99) return p99.error();
  s.kl_p99 = *p99;
  s.top1_agreement = static_cast<double>(agreeing_) / static_cast<double>(kl_.size());
  return s;
}

}  // namespace ql::engine
