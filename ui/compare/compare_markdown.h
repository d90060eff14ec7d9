#pragma once
// A finished comparison as Markdown (the compare view's "Save as Markdown"):
// what was asked, how the precisions were run, a table of the figures (weight
// memory, time to first token, decode speed, KL mean and p99, top-1
// agreement), with an evaluation set the task accuracy per precision and
// question type, and each precision's answer. No Qt.
#include <string>
#include <vector>

#include "core/engine/compare_report.h"
#include "core/engine/eval_score.h"

namespace ql::ui {

struct CompareMarkdownInput {
  std::string model_dir;
  std::string question;
  std::vector<std::string> image_paths;
  std::string run_notice;  // the view's sentence on sequential vs together
  const engine::CompareReport* report = nullptr;
  // With an evaluation set: each precision's task accuracy (a table of its own).
  const engine::EvalReport* accuracy = nullptr;
};

std::string compare_markdown(const CompareMarkdownInput& input);

// "512 B", "14.3 MiB", "15.83 GiB": the sizes the view and the table print.
std::string format_bytes(uint64_t bytes);

}  // namespace ql::ui
