#pragma once
// An evaluation set (docs/evaluation.md): questions with their expected
// answers, in the compare prompts format (compare_prompts.h) plus, per item,
// "type" (what kind of question, for the per-type table; default "other")
// and exactly one of "answer" (the expected text) or "box" (the expected
// grounding box [x1, y1, x2, y2] in 0-1000 coordinates).
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/result.h"
#include "core/engine/compare_request.h"

namespace ql::engine {

struct EvalItem {
  std::string type;
  std::optional<std::string> answer;
  std::optional<std::array<double, 4>> box;
};

struct EvalSet {
  std::vector<ComparePrompt> prompts;  // the questions, run as a comparison's prompts
  std::vector<EvalItem> items;         // what each should answer, in the same order
};

// Errors start with `label` and name the item (1-based) and the field at fault.
Result<EvalSet> parse_eval_set(std::string_view json_text, std::string_view label, const std::string& base_dir);
Result<EvalSet> load_eval_set(const std::string& path);

}  // namespace ql::engine
