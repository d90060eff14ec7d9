#pragma once
// One request's run on one sequence slot, in steps: start() reuses what the
// slot's KV cache holds, prefills the rest and picks the first token;
// accept() takes each later token (streams it, checks the stop conditions).
// run_generation (one request) and the batch runner (many, decoded together)
// drive the same steps, so a request behaves the same either way.
#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/common/result.h"
#include "core/engine/generation_result.h"
#include "core/engine/loaded_model.h"
#include "core/engine/metrics.h"
#include "core/engine/prompt_builder.h"
#include "core/engine/request.h"
#include "core/engine/sampling.h"
#include "core/text/stream_detokenizer.h"

namespace ql::engine {

class SequenceRun {
 public:
  SequenceRun(LoadedModel& m, SequenceSlot& slot, const GenerationRequest& request, TokenCallback on_token,
              MetricsRecorder* metrics);

  // Resolves the settings, keeps the reusable cached prefix, prefills the
  // rest (polling `cancel` between layers) and picks and streams the first
  // token. Afterwards finished() may already be true (max tokens 0, eos, a
  // cancelled prefill: stop reason kStopped, the cache as it was).
  // `stop` is what accept() reads for the first token (default: `cancel`).
  // Equal to begin() and then prefill_some() with no limit.
  Status start(PreparedPrompt prompt, const std::atomic<bool>* cancel, const std::atomic<bool>* stop = nullptr);

  // The same in steps, so that a batch can decode its running sequences
  // between the pieces of a long prompt: begin() resolves the settings and
  // keeps the reusable prefix; each prefill_some() runs the next piece of at
  // most `max_tokens` prompt tokens (more when an image's tokens would be cut:
  // prompt_pieces.h; 0: no limit) and, after the last piece,
  // picks and streams the first token. A cancelled piece finishes the run
  // (kStopped); earlier pieces stay in the cache, a reusable prefix.
  Status begin(PreparedPrompt prompt);
  Status prefill_some(int64_t max_tokens, const std::atomic<bool>* cancel, const std::atomic<bool>* stop = nullptr);
  // The prompt still has tokens to prefill (begin() ran, the first token is not picked).
  bool prefilling() const { return prefilling_; }
  int64_t prompt_tokens_left() const { return prefilling_ ? static_cast<int64_t>(prompt_.ids.size()) - next_ : 0; }
  bool finished() const { return finished_; }
  // The token the next decode step runs, and the settings and draw of the pick after it.
  int32_t last_token() const { return result_.generated_ids.back(); }
  model::SamplingStep next_step() { return sampler_->next(); }
  model::KvCache& cache() { return *slot_.cache; }
  // A token a decode step picked: streamed, then eos, the token limit, a
  // stop request (`stop` set, read after the token was streamed: its callback
  // may set it) and a full context are checked, in that order.
  Status accept(int32_t token, const std::atomic<bool>* stop);

  GenerationResult& result() { return result_; }

 private:
  Status emit(int32_t id, std::string piece);
  Status finish(StopReason reason);

  LoadedModel& m_;
  SequenceSlot& slot_;
  const GenerationRequest& request_;
  TokenCallback on_token_;
  MetricsRecorder* metrics_;
  std::optional<TokenSampler> sampler_;
  std::optional<text::StreamDetokenizer> detok_;
  GenerationResult result_;
  bool finished_ = false;
  // Between begin() and the first token: the prompt, how far it is in the
  // cache, how many of its images are, the logits rows asked for.
  PreparedPrompt prompt_;
  int64_t next_ = 0;
  size_t images_done_ = 0;
  std::vector<int64_t> rows_;
  bool prefilling_ = false;
};

}  // namespace ql::engine
