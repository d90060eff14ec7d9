#pragma once
// The text decoder's layers (docs/model.md §9) and the output head (§10), shared
// by prefill chunks and decode steps. Each layer's temporaries are freed when
// it ends (Backend::rewind), so a prefill chunk holds one layer's buffers.
#include <atomic>
#include <vector>

#include "core/backend/backend.h"
#include "core/common/result.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"
#include "core/model/step_progress.h"

namespace ql::model {

// The per-step input tensors (written in the step's input phase).
struct StepTensors {
  backend::TensorPtr ids;         // I32 [n, 1]
  backend::TensorPtr cos, sin;    // [n, head_dim]
  backend::TensorPtr write_rows;  // I32 [n, 1]: the KV-cache row of each token
  backend::TensorPtr spans;       // I32 [1, 4]: backend::SequenceSpan
};

struct DecoderInputs {
  const StepTensors* steps = nullptr;
  backend::TensorPtr hidden;                  // [n, H], updated in place
  backend::TensorPtr image_rows;              // I32 [image tokens, 1], step-relative; null without images
  std::vector<backend::TensorPtr> deepstack;  // added at image_rows after layer l < size()
};

// Every layer over `in.hidden`, K and V written into the caches. `cancel` is
// polled between layers (kCancelledMessage); `progress`, when given,
// advances once per layer.
Status run_decoder_layers(backend::Backend& be, const ModelWeights& w, const TextConfig& tc,
                          std::vector<backend::TensorPtr>& k_cache, std::vector<backend::TensorPtr>& v_cache,
                          DecoderInputs& in, const std::atomic<bool>* cancel, StepProgress* progress = nullptr);

// out [rows, vocab] = lm_head(final_norm(hidden rows)); `rows` (I32 [r, 1])
// picks hidden rows, null = every row.
void final_logits(backend::Backend& be, const ModelWeights& w, const TextConfig& tc, const backend::Tensor& hidden,
                  const backend::Tensor* rows, backend::Tensor& out);

}  // namespace ql::model
