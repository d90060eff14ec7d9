#pragma once
// Many requests on one loaded model (its SequenceSlots), decoded together
// (docs/server.md, "Batching"): between steps the feed hands over new jobs,
// each is prepared and given a free slot (the one whose cache holds the
// longest reusable prefix); prompts are prefilled whole while no answer is
// running, else in pieces between the decode steps; then one decode step
// runs every sequence past its prompt in one forward. A job leaves when it
// finishes and frees its slot.
#include <atomic>
#include <cstdint>

#include "core/common/result.h"
#include "core/engine/loaded_model.h"
#include "core/engine/metrics.h"
#include "core/engine/sequence_feed.h"

namespace ql::engine {

// Prompt tokens prefilled per decode step while answers are running: a step
// then costs about one 512-token prefill chunk more than a decode step,
// instead of the whole prompt's stall (an image of 1,000 tokens runs whole).
inline constexpr int64_t kInterleavedPrefillTokens = 512;

// Returns when the feed has nothing more and every job has ended; `stop`
// (Engine::stop) cancels every job. A failed step fails the jobs in it.
Status run_batch(LoadedModel& m, const PromptContext& ctx, SequenceFeed& feed, const std::atomic<bool>& stop,
                 MetricsRecorder& metrics);

}  // namespace ql::engine
