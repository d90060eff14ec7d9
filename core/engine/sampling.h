#pragma once
// Sampler glue: a request's SamplingOptions resolved against the model's
// generation_config.json, and the seeded random draws handed to the backend's
// sample op (which does the penalties, filters and the pick on the backend,
// so a GPU never copies logits to the host).
#include <cstdint>
#include <random>
#include <span>

#include "core/backend/backend.h"
#include "core/common/result.h"
#include "core/engine/request.h"
#include "core/model/generation_config.h"
#include "core/model/qwen3vl_model.h"

namespace ql::engine {

struct ResolvedSampling {
  backend::SamplingParams params;  // temperature 0 means greedy
  uint64_t seed = 0;
};

// Unset options come from `defaults`: temperature is 0 (greedy) when the file
// says do_sample false, as transformers does. Errors name the setting and value.
Result<ResolvedSampling> resolve_sampling(const SamplingOptions& options, const model::GenerationConfig& defaults);

// Uniform doubles in [0, 1) from a seeded std::mt19937_64. The conversion is
// written out (top 53 bits) rather than std::uniform_real_distribution, whose
// algorithm differs between standard libraries: a seed must give the same
// tokens everywhere.
class UniformDraws {
 public:
  explicit UniformDraws(uint64_t seed) : engine_(seed) {}
  double next() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

 private:
  std::mt19937_64 engine_;
};

// The settings and draws of each next token: one draw per step, even when
// greedy, so a sequence's draws depend only on the seed and the step. The
// pick itself runs on the backend (Qwen3VLModel::sample, decode_and_sample).
class TokenSampler {
 public:
  explicit TokenSampler(const ResolvedSampling& s) : params_(s.params), draws_(s.seed) {}
  model::SamplingStep next() { return model::SamplingStep{params_, draws_.next()}; }
  const backend::SamplingParams& params() const { return params_; }

 private:
  backend::SamplingParams params_;
  UniformDraws draws_;
};

}  // namespace ql::engine
