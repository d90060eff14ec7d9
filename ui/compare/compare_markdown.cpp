#include "ui/compare/compare_markdown.h"

#include <algorithm>

#include <fmt/format.h>

namespace ql::ui {
namespace {

// A table cell: '|' would end the cell and a newline the row.
std::string cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

// A fence longer than any run of backticks in the text, so an answer holding
// ``` cannot close its own block.
std::string fence_for(const std::string& text) {
  size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

std::string row_title(const engine::PrecisionRow& row) {
  if (!row.reference) return row.name;
  return row.name + (row.added ? " (reference, added)" : " (reference)");
}

}  // namespace

std::string format_bytes(uint64_t bytes) {
  constexpr double kKiB = 1024.0, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
  const double b = static_cast<double>(bytes);
  if (b >= kGiB) return fmt::format("{:.2f} GiB", b / kGiB);
  if (b >= kMiB) return fmt::format("{:.1f} MiB", b / kMiB);
  if (b >= kKiB) return fmt::format("{:.1f} KiB", b / kKiB);
  return fmt::format("{} B", bytes);
}

std::string compare_markdown(const CompareMarkdownInput& in) {
  std::string md = "# Precision comparison\n\n";
  md += fmt::format("- Model: `{}`\n", in.model_dir);
  md += fmt::format("- Question: {}\n", cell(in.question));
  if (!in.image_paths.empty()) {
    std::string images;
    for (const std::string& p : in.image_paths) images += (images.empty() ? "`" : ", `") + p + "`";
    md += fmt::format("- Images: {}\n", images);
  }
  if (!in.run_notice.empty()) md += fmt::format("- Run: {}\n", cell(in.run_notice));
  if (!in.report) return md;
  const engine::CompareReport& r = *in.report;
  int64_t positions = 0;
  for (const engine::PromptInfo& p : r.prompts) positions += p.positions;
  md += fmt::format(
      "- Answers: greedy, at most {} tokens each. Fidelity: KL(reference || precision) in nats and top-1 "
      "agreement over {} teacher-forced positions of the reference's ({}) continuation.\n\n",
      r.tokens, positions, r.reference);

  md += "| precision | loaded as | weights | time to first token | decode | KL mean | KL p99 | top-1 agreement |\n";
  md += "|---|---|---:|---:|---:|---:|---:|---:|\n";
  for (const engine::PrecisionRow& row : r.precisions) {
    const std::string kl_mean = row.reference ? "reference" : fmt::format("{:.4g}", row.fidelity.kl_mean);
    const std::string kl_p99 = row.reference ? "reference" : fmt::format("{:.4g}", row.fidelity.kl_p99);
    const std::string top1 = row.reference ? "reference" : fmt::format("{:.1f}%", 100.0 * row.fidelity.top1_agreement);
    md += fmt::format("| {} | {} | {} | {:.0f} ms | {:.1f} tokens/s | {} | {} | {} |\n", cell(row_title(row)),
                      cell(row.loaded_precision), format_bytes(row.weight_bytes), row.ttft_ms, row.decode_tok_s,
                      kl_mean, kl_p99, top1);
  }

  if (in.accuracy) {
    std::vector<std::string> types;
    for (const auto& row : in.accuracy->rows)
      for (const auto& [type, score] : row.by_type)
        if (std::find(types.begin(), types.end(), type) == types.end()) types.push_back(type);
    std::sort(types.begin(), types.end());
    md += "\n## Task accuracy\n\n| precision | accuracy | retained |";
    for (const auto& t : types) md += " " + cell(t) + " |";
    md += " box IoU |\n|---|---:|---:|";
    for (size_t i = 0; i < types.size(); ++i) md += "---:|";
    md += "---:|\n";
    for (const auto& row : in.accuracy->rows) {
      md += fmt::format("| {} | {:.1f}% ({} of {}) | {:.0f}% |", cell(row.name), 100 * row.overall.accuracy(),
                        row.overall.right, row.overall.total, 100 * row.retention);
      for (const auto& t : types) {
        const auto it = row.by_type.find(t);
        md += it == row.by_type.end() ? " - |" : fmt::format(" {}/{} |", it->second.right, it->second.total);
      }
      md += row.boxes > 0 ? fmt::format(" {:.2f} |\n", row.mean_iou) : std::string(" - |\n");
    }
  }

  md += "\n## Answers\n";
  for (size_t j = 0; j < r.prompts.size(); ++j) {
    if (r.prompts.size() > 1) md += fmt::format("\n### Prompt {}: {}\n", j + 1, cell(r.prompts[j].label));
    for (const engine::PrecisionRow& row : r.precisions) {
      if (j >= row.prompts.size()) continue;
      const std::string& answer = row.prompts[j].answer;
      const std::string fence = fence_for(answer);
      md += fmt::format("\n{} {}\n\n{}text\n{}\n{}\n", r.prompts.size() > 1 ? "####" : "###", row_title(row), fence,
                        answer, fence);
    }
  }
  return md;
}

}  // namespace ql::ui
