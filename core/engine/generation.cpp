#include "core/engine/generation.h"

#include "core/engine/sequence_run.h"

namespace ql::engine {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::kEos: return "eos";
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kContextFull: return "context_full";
    case StopReason::kStopped: return "stopped";
  }
  return "?";
}

Result<GenerationResult> run_generation(LoadedModel& m, PreparedPrompt prompt, const GenerationRequest& request,
                                        const TokenCallback& on_token, const std::atomic<bool>& stop,
                                        MetricsRecorder& metrics) {
  SequenceRun run(m, m.sequences.front(), request, on_token, &metrics);
  QL_TRY(run.start(std::move(prompt), &stop));
  // Each later token from a decode step that runs the previous one and picks
  // in the same (recorded) step.
  while (!run.finished()) {
    QL_ASSIGN_OR_RETURN(const int32_t token,
                        m.model->decode_and_sample(run.cache(), run.last_token(), run.next_step()));
    QL_TRY(run.accept(token, &stop));
  }
  return std::move(run.result());
}

}  // namespace ql::engine
