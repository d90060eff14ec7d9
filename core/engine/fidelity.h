#pragma once
// Per-position fidelity of a quantized model against the 16-bit reference
// (docs/architecture.md §1, comparing precisions side by side): the KL divergence of the
// next-token distributions given by two logit rows, and the top-1 token.
// Everything is computed in double so that the figures do not depend on how
// the backend rounded its float softmax.
#include <cstddef>
#include <span>

#include "core/common/result.h"

namespace ql::engine {

// KL(P_ref || P_q) in nats, P = softmax(logits), computed from stable
// log-softmaxes (max subtracted, log-sum-exp in double): sum_i p_i (log p_i -
// log q_i). Identical rows give exactly 0. Errors: rows of different or zero
// length, or a logit that is not finite (naming the row and its index).
Result<double> kl_divergence(std::span<const float> ref_logits, std::span<const float> q_logits);

// The index of the largest logit; the first one on ties. An empty row gives 0.
size_t argmax_first(std::span<const float> logits);

}  // namespace ql::engine
