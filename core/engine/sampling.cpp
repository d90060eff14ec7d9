#include "core/engine/sampling.h"

#include <chrono>
#include <cmath>

namespace ql::engine {
namespace {

Status check_range(const char* name, double v, double lo, double hi, bool lo_open, const char* expected) {
  const bool ok = std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
  if (!ok) return err("sampling: {} {} is invalid (expected {})", name, v, expected);
  return {};
}

// A seed for requests that set none; reported back so the run can be repeated.
uint64_t fresh_seed() {
  try {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  } catch (...) {  // no entropy source: the clock is random enough for chatting
    return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
}

}  // namespace

Result<ResolvedSampling> resolve_sampling(const SamplingOptions& o, const model::GenerationConfig& g) {
  const double temperature = o.temperature.value_or(g.do_sample ? g.temperature : 0.0);
  const int64_t top_k = o.top_k.value_or(g.top_k);
  const double top_p = o.top_p.value_or(g.top_p);
  const double min_p = o.min_p.value_or(0.0);
  const double repetition = o.repetition_penalty.value_or(g.repetition_penalty);
  const double presence = o.presence_penalty.value_or(0.0);

  constexpr double kHuge = 1e30;
  QL_TRY(check_range("temperature", temperature, 0.0, kHuge, false, ">= 0; 0 = greedy"));
  if (top_k < 0 || top_k > INT32_MAX) return err("sampling: top-k {} is invalid (expected >= 0; 0 = off)", top_k);
  QL_TRY(check_range("top-p", top_p, 0.0, 1.0, true, "in (0, 1]; 1 = off"));
  QL_TRY(check_range("min-p", min_p, 0.0, 1.0, false, "in [0, 1]; 0 = off"));
  QL_TRY(check_range("repetition penalty", repetition, 0.0, kHuge, true, "> 0; 1 = off"));
  QL_TRY(check_range("presence penalty", presence, -kHuge, kHuge, false, "a finite number; 0 = off"));

  ResolvedSampling r;
  r.params.temperature = static_cast<float>(temperature);
  r.params.top_k = static_cast<int>(top_k);
  r.params.top_p = static_cast<float>(top_p);
  r.params.min_p = static_cast<float>(min_p);
  r.params.repetition_penalty = static_cast<float>(repetition);
  r.params.presence_penalty = static_cast<float>(presence);
  r.seed = o.seed ? *o.seed : fresh_seed();
  return r;
}

}  // namespace ql::engine
