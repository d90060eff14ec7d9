#pragma once
// What a precision comparison hands back: one row per precision (the
// reference first), each with its fidelity against the reference, its speed
// and weight memory, and its greedy answers to every prompt.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/fidelity_summary.h"

namespace ql::engine {

// One prompt at one precision.
struct PromptOutcome {
  std::string answer;                // greedy answer text (empty when the model has no tokenizer)
  std::vector<int32_t> answer_ids;   // its token ids (an eos that ended it included)
  std::vector<double> kl;            // KL(reference || this) at each teacher-forced position
  std::vector<int32_t> forced_top1;  // this precision's argmax at each teacher-forced position
  double ttft_ms = 0;                // of the answer, from an empty KV cache
  double decode_tok_s = 0;           // of the answer (tokens after the first)
};

struct PrecisionRow {
  std::string name;              // canonical precision asked for
  std::string loaded_precision;  // what the engine says it loaded (ModelInfo::precision)
  bool reference = false;
  bool added = false;            // bf16 added as the reference (the list had no 16-bit entry)
  size_t weight_bytes = 0;       // ModelInfo::weight_bytes after loading
  double load_ms = 0;
  FidelitySummary fidelity;      // over every position of every prompt
  double decode_tok_s = 0;       // decode tokens after the first / their time, all prompts together
  double ttft_ms = 0;            // mean over the prompts
  std::vector<PromptOutcome> prompts;
};

struct PromptInfo {
  std::string label;
  int64_t prompt_tokens = 0;  // image pads included
  int64_t positions = 0;      // teacher-forced positions: the reference's continuation length
};

struct CompareReport {
  std::string reference;   // name of the reference row
  bool sequential = true;  // precisions were loaded one after another, never together
  std::string placement;   // why, in one line (CompareMemory::reason), e.g. "held together: 3 precisions need ..."
  int64_t tokens = 0;      // continuation / answer length asked for
  std::vector<PromptInfo> prompts;
  std::vector<PrecisionRow> precisions;  // run order: the reference first
};

}  // namespace ql::engine
