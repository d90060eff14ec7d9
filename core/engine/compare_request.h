#pragma once
// What a precision comparison runs (quantlens-cli compare, the GUI's compare
// view): one model folder loaded at several precisions, the same prompts at
// each, measured against the 16-bit reference.
#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/loaded_model.h"
#include "core/engine/request.h"

namespace ql::engine {

struct ComparePrompt {
  std::string label;  // how reports name it: its text, or "token ids (N)"; images appended
  Prompt prompt;      // a conversation, or token ids with the image pads expanded
};

inline constexpr int64_t kDefaultCompareTokens = 32;

struct CompareRequest {
  std::string model_dir;
  // Presets or per-component policies (core/quant/precision_policy.h), as given.
  std::vector<std::string> precisions;
  std::vector<ComparePrompt> prompts;
  // Length of the reference's greedy continuation (the teacher-forced
  // positions) and of every precision's greedy answer.
  int64_t tokens = kDefaultCompareTokens;
  // Threads, context, backend and memory budget; `precision` is set per row.
  LoadOptions load;
};

}  // namespace ql::engine
