#pragma once
// What Engine::run_sequences decodes together: jobs, each a request with its
// own cancel flag and callbacks, handed over by a feed (the server's
// scheduler) between decode steps, so a request that arrives while others run
// joins at the next step.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/common/result.h"
#include "core/engine/generation_result.h"
#include "core/engine/prompt_builder.h"
#include "core/engine/request.h"

namespace ql::engine {

struct SequenceJob {
  GenerationRequest request;
  // Set (any thread): the job stops at its next token, or between layers of its prefill.
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  // On the engine's thread, in this order:
  // the prompt prepared, or why it cannot run (then nothing else is called);
  std::function<void(const Result<PreparedPrompt>& prepared)> on_prepared;
  // each token as it comes (returning false stops the job there: a stop sequence);
  std::function<bool(const StreamedToken& token)> on_token;
  // once, the finished generation (any stop reason) or its failure.
  std::function<void(const Result<GenerationResult>& result)> on_done;
};

class SequenceFeed {
 public:
  virtual ~SequenceFeed() = default;
  // Called on the engine's thread before the first step and between steps,
  // with `running` sequences decoding and room for `free_slots` more: the
  // jobs to start now (at most free_slots). nullopt when nothing is running
  // means no more work for now (run_sequences returns).
  virtual std::optional<std::vector<SequenceJob>> next(int free_slots, int running) = 0;
};

}  // namespace ql::engine
