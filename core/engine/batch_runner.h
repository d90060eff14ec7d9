#pragma once
// Many requests on one loaded model (its SequenceSlots), decoded together
// (docs/server.md, "Batching"): between steps the feed hands over new jobs,
// each is prepared and prefilled in a free slot (the one whose cache holds
// the longest reusable prefix), then one decode step runs every unfinished
// sequence in one forward. A job leaves when it finishes and frees its slot.
#include <atomic>

#include "core/common/result.h"
#include "core/engine/loaded_model.h"
#include "core/engine/metrics.h"
#include "core/engine/sequence_feed.h"

namespace ql::engine {

// Returns when the feed has nothing more and every job has ended; `stop`
// (Engine::stop) cancels every job. A failed step fails the jobs in it.
Status run_batch(LoadedModel& m, const PromptContext& ctx, SequenceFeed& feed, const std::atomic<bool>& stop,
                 MetricsRecorder& metrics);

}  // namespace ql::engine
