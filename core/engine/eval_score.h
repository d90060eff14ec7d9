#pragma once
// Task accuracy of each precision of a comparison run on an evaluation set
// (docs/evaluation.md): each answer scored against its item (normalised exact
// match, or for a box item the IoU of the answer's first box with the
// expected one, right at IoU >= 0.5), per question type and overall, and the
// accuracy retained against the reference row, beside the comparison's
// fidelity (KL, top-1) and weight memory.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/engine/compare_report.h"
#include "core/engine/eval_set.h"

namespace ql::engine {

inline constexpr double kBoxHitIou = 0.5;

struct TypeScore {
  int64_t right = 0, total = 0;
  double accuracy() const { return total > 0 ? static_cast<double>(right) / static_cast<double>(total) : 0.0; }
};

struct EvalRow {
  std::string name;
  bool reference = false;
  size_t weight_bytes = 0;
  FidelitySummary fidelity;
  std::map<std::string, TypeScore> by_type;  // in type-name order
  TypeScore overall;
  double retention = 0;    // overall accuracy / the reference's (1 for the reference; 0 when it got none right)
  int64_t boxes = 0;       // box items
  double mean_iou = 0;     // over the box items (0 for an answer without a box)
  std::vector<bool> right; // per item
};

struct EvalReport {
  std::vector<EvalRow> rows;  // the comparison's order: the reference first
};

// Errors when the report's prompts do not match the set's items.
Result<EvalReport> score_eval(const EvalSet& set, const CompareReport& report);

}  // namespace ql::engine
