#pragma once
// Fidelity, measured: the same prompts at several precisions of one model,
// against the 16-bit reference. For each prompt the reference makes a greedy
// continuation of `tokens` tokens; that continuation is teacher-forced through
// every precision (one prefill of prompt + continuation returning the logits
// of every position that predicts a continuation token), so all precisions
// are judged on the same tokens: per-position KL(P_ref || P_q) and top-1
// agreement (core/engine/fidelity.h). Each precision also answers every
// prompt greedily from an empty KV cache, which gives its answers, its time
// to first token and its decode speed (after an unmeasured warm-up of two
// tokens, so that paging weights in is not counted as the first prompt's).
//
// Where the memory planner says their plans fit the budget together
// (core/engine/compare_memory.h), every precision is loaded first, each into
// its own Engine, and all stay loaded while each is measured in turn;
// otherwise, and without a budget, they are loaded one after another (load,
// measure, unload). The report says which (sequential, placement); the
// figures do not depend on it. The reference's logits of every prompt are held
// until the last precision is measured: prompts x tokens x vocab floats
// (5 x 32 x 151,936 x 4 B = 97 MB for the real vocabulary).
#include <atomic>
#include <cstddef>
#include <functional>

#include "core/common/result.h"
#include "core/engine/compare_report.h"
#include "core/engine/compare_request.h"
#include "core/engine/engine.h"
#include "core/engine/generation_result.h"

namespace ql::engine {

struct CompareStep {
  size_t precision = 0, precision_count = 0;  // the row (run order) being worked on
  size_t prompt = 0, prompt_count = 0;        // the prompt being run; == prompt_count while loading
  double load_fraction = 1;                   // < 1 while the precision is loading
};
// Called on the calling thread before each load step and each prompt.
using CompareProgress = std::function<void(const CompareStep&)>;

// Each token of each precision's measured greedy answer, as it is sampled
// (the warm-up and the teacher-forced runs stream nothing), so a view can
// show the answers growing side by side. `row` is the precision's index in
// run order (CompareReport::precisions, the reference first), `prompt` the
// prompt's index in the request. The tokens of one answer joined give
// PromptOutcome::answer. Called on the calling thread.
using CompareTokenCallback = std::function<void(size_t row, size_t prompt, const StreamedToken&)>;

// Runs the comparison on `engine`, whose model is replaced (held together,
// the first row runs on it and the others on engines made here with its
// image decoder); every engine is unloaded when the comparison ends, whatever
// the outcome. To cancel from another thread, set *cancel and call
// engine.stop(): the flag keeps any later step from starting, stop() ends the
// running one (generation between tokens, prefill between layers, loading
// between tensors); held together, the flag is also passed on to the engine
// in use within a few milliseconds. A cancelled comparison
// returns an error for which Engine::is_cancelled is true. Other errors name
// the precision and the prompt (1-based) at fault.
Result<CompareReport> compare_precisions(Engine& engine, const CompareRequest& request,
                                         const CompareProgress& progress = {},
                                         const std::atomic<bool>* cancel = nullptr,
                                         const CompareTokenCallback& on_token = {});

}  // namespace ql::engine
