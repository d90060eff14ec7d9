#pragma once
// The CPU reference sampler (docs/model.md §10), as a plain function over host
// memory: the CPU backend's sample op calls it, and the GPU sampler's tests
// compare against it.
#include <cstdint>
#include <span>
#include <vector>

#include "core/backend/backend.h"

namespace ql::backend::cpu {

// Picks the next token from `logits` (one row over the vocabulary). `seen`
// holds, per token id, nonzero for every token of the sequence so far (the
// penalties act on those once each); empty = no token seen. `uniform` in
// [0, 1] is the caller's random draw for this step.
int32_t sample_row(std::span<const float> logits, const SamplingParams& p, std::span<const int32_t> seen,
                   double uniform);

// The seen mask of a token history: 1 at every id in `history`.
std::vector<int32_t> seen_mask(std::span<const int32_t> history, int64_t vocab);

}  // namespace ql::backend::cpu
