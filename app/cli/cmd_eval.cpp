// quantlens-cli eval --model DIR --set FILE [--precisions LIST] [--tokens N] [--threads N] [--context N]
//                    [--vram GiB] [--json] [--verbose]
// Task accuracy per precision (docs/evaluation.md): the set's questions run
// as a comparison (core/engine/compare.h: greedy answers at each precision,
// KL and top-1 against the 16-bit reference on the same tokens), then each
// answer is scored against the set's expected one (core/engine/eval_score.h).
// Prints accuracy per question type, overall, retention against the
// reference, box IoU, KL, top-1 and weight memory; --json the same as one
// object.
#include <iostream>
#include <memory>
#include <set>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli/cli_common.h"
#include "app/cli/engine_cli.h"
#include "app/cli/compare_cli.h"
#include "core/engine/eval_score.h"
#include "core/engine/eval_set.h"
#include "ui/imageio/image_decode.h"

namespace ql::cli {
namespace {

struct EvalOptions {
  // 48 tokens: room for a box answer in its code block.
  CompareRunOptions run{.precisions = "bf16,int8,nf4,nf4-mixed", .tokens = 48};
  std::string set_file;
  bool json = false, verbose = false;
};

nlohmann::json eval_json(const engine::EvalReport& e, const engine::CompareReport& c) {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < e.rows.size(); ++i) {
    const auto& r = e.rows[i];
    nlohmann::json types = nlohmann::json::object();
    for (const auto& [type, t] : r.by_type) types[type] = {{"right", t.right}, {"total", t.total}, {"accuracy", t.accuracy()}};
    nlohmann::json answers = nlohmann::json::array();
    for (size_t j = 0; j < r.right.size(); ++j)
      answers.push_back({{"answer", c.precisions[i].prompts[j].answer}, {"right", static_cast<bool>(r.right[j])}});
    rows.push_back({{"name", r.name},
                    {"reference", r.reference},
                    {"weights_bytes", r.weight_bytes},
                    {"accuracy", r.overall.accuracy()},
                    {"right", r.overall.right},
                    {"total", r.overall.total},
                    {"retention", r.retention},
                    {"by_type", types},
                    {"boxes", r.boxes},
                    {"mean_iou", r.mean_iou},
                    {"kl_mean", r.fidelity.kl_mean},
                    {"top1_agreement", r.fidelity.top1_agreement},
                    {"answers", answers}});
  }
  return {{"reference", c.reference}, {"questions", c.prompts.size()}, {"precisions", rows}};
}

void print_text(const engine::EvalReport& e, const engine::CompareReport& c) {
  std::set<std::string> types;
  for (const auto& r : e.rows)
    for (const auto& [t, s] : r.by_type) types.insert(t);
  std::cout << fmt::format("{} questions, reference {}\n\n", c.prompts.size(), c.reference);
  std::string head = fmt::format("{:<12} {:>11} {:>9} {:>9}", "precision", "weights MiB", "accuracy", "retained");
  for (const auto& t : types) head += fmt::format(" {:>10}", t.substr(0, 10));
  head += fmt::format(" {:>8} {:>9} {:>6}", "box IoU", "KL mean", "top-1");
  std::cout << head << "\n";
  for (const auto& r : e.rows) {
    std::string line = fmt::format("{:<12} {:>11.1f} {:>8.1f}% {:>8.1f}%", r.reference ? r.name + " (ref)" : r.name,
                                   static_cast<double>(r.weight_bytes) / (1024.0 * 1024.0),
                                   100 * r.overall.accuracy(), 100 * r.retention);
    for (const auto& t : types) {
      const auto it = r.by_type.find(t);
      line += it == r.by_type.end() ? fmt::format(" {:>10}", "-")
                                    : fmt::format(" {:>5}/{:<4}", it->second.right, it->second.total);
    }
    line += r.boxes > 0 ? fmt::format(" {:>8.3f}", r.mean_iou) : fmt::format(" {:>8}", "-");
    line += fmt::format(" {:>9.4g} {:>6.3f}", r.fidelity.kl_mean, r.fidelity.top1_agreement);
    std::cout << line << "\n";
  }
}

int run_eval(const EvalOptions& o) {
  auto set = engine::load_eval_set(o.set_file);
  if (!set) return report(set.error());
  auto request = compare_request_of(o.run);
  if (!request) return report(request.error());
  request->prompts = set->prompts;
  engine::Engine engine(&imageio::decode_image_file);
  Result<engine::CompareReport> compared =
      run_cancellable_compare(engine, *request, compare_progress_printer(o.verbose));
  if (o.verbose) std::cerr << "\n";
  if (!compared) {
    if (engine::Engine::is_cancelled(compared.error())) {
      std::cerr << "quantlens-cli: eval cancelled\n";
      return kExitFailure;
    }
    return report(compared.error());
  }
  auto scored = engine::score_eval(*set, *compared);
  if (!scored) return report(scored.error());
  if (o.json)
    std::cout << eval_json(*scored, *compared).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  else
    print_text(*scored, *compared);
  return kExitOk;
}

}  // namespace

void add_eval_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<EvalOptions>();
  auto* cmd = app.add_subcommand("eval", "Task accuracy of several precisions of one model on an evaluation set, "
                                         "beside KL and top-1 against the 16-bit reference");
  cmd->add_option("--model", o->run.model_dir, "Model folder")->required();
  cmd->add_option("--set", o->set_file,
                  "JSON array of questions: {\"text\", \"images\": [paths], \"type\", \"answer\"} or with \"box\": "
                  "[x1, y1, x2, y2] (0-1000) for a grounding question; relative image paths from the file's folder")
      ->required();
  add_backend_option(cmd, o->run.backend);
  cmd->add_option("--precisions", o->run.precisions,
                  "Comma list of precisions (the first 16-bit one is the reference)")
      ->capture_default_str()
      ->check(not_empty_text());
  cmd->add_option("--tokens", o->run.tokens, "Answer length in tokens")->capture_default_str();
  cmd->add_option("--threads", o->run.threads, "CPU threads (default: every core)");
  cmd->add_option("--context", o->run.context, "KV cache size in tokens")->check(positive_tokens());
  cmd->add_option("--vram", o->run.vram_gib, "Memory budget in GiB (as compare)")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json,
                "Print one JSON object: {reference, questions, precisions: [{name, accuracy, retention, by_type, "
                "mean_iou, kl_mean, top1_agreement, weights_bytes, answers}]}");
  cmd->add_flag("--verbose", o->verbose, "Report progress on stderr");
  cmd->footer("An answer is right when it equals the expected one after normalising (case, punctuation, articles, "
              "number words), or for a box question when its first box overlaps the expected one at IoU >= 0.5. "
              "Exit codes: 0 ok; 2 bad arguments or input; 1 other failures, or cancelled.");
  cmd->callback([o, &exit_code] { exit_code = run_eval(*o); });
}

}  // namespace ql::cli
