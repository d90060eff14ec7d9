#pragma once
// One request on a loaded model: reuse what the KV cache already holds,
// prefill the rest, then the decode loop with the sampler until an eos id,
// the token limit, a full context or a stop.
#include <atomic>

#include "core/common/result.h"
#include "core/engine/generation_result.h"
#include "core/engine/loaded_model.h"
#include "core/engine/metrics.h"
#include "core/engine/prompt_builder.h"
#include "core/engine/request.h"

namespace ql::engine {

Result<GenerationResult> run_generation(LoadedModel& m, PreparedPrompt prompt, const GenerationRequest& request,
                                        const TokenCallback& on_token, const std::atomic<bool>& stop,
                                        MetricsRecorder& metrics);

}  // namespace ql::engine
