// quantlens-cli compare --model DIR --precisions LIST [--prompts FILE] [--tokens N] [--threads N]
//                       [--context N] [--vram GiB] [--json] [--verbose]
// Fidelity, measured (core/engine/compare.h): the same prompts at each
// precision, against the 16-bit reference. Prints a table (weights, KL mean
// and p99, top-1 agreement, decode speed, time to first token) and the greedy
// answers side by side; --json prints the whole report. With --vram the
// precisions are held together when the memory planner says they all fit.
//
// Without --prompts the built-in set runs, which asks about the demo pictures
// shapes.png, bar_chart.png and stop_sign.png. Their folder is the first of:
// $QUANTLENS_RESOURCES/images; <executable>/../share/quantlens/resources/images
// (an installed layout); resources/images of the source tree this file was
// compiled from (a build tree); <model>/../images (the demo model's folder
// sits in resources/).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "app/cli/compare_cli.h"
#include "app/cli/engine_cli.h"
#include "core/engine/compare.h"
#include "core/engine/compare_prompts.h"
#include "core/engine/compare_report_json.h"
#include "ui/imageio/image_decode.h"

namespace ql::cli {
namespace {

namespace fs = std::filesystem;

struct CompareOptions {
  CompareRunOptions run;
  std::string prompts_file;
  bool json = false, verbose = false;
};

constexpr size_t kAnswerWidth = 100;  // characters of an answer in the text form

bool has_builtin_images(const fs::path& dir) {
  std::error_code ec;
  for (std::string_view name : engine::builtin_compare_images()) {
    if (!fs::is_regular_file(dir / name, ec)) return false;
  }
  return true;
}

// The folder of the demo pictures (see the top of this file for the order).
Result<std::string> demo_images_dir(const std::string& model_dir) {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("QUANTLENS_RESOURCES"); env && *env) candidates.push_back(fs::path(env) / "images");
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / "../share/quantlens/resources/images");
  candidates.push_back(fs::path(__FILE__).parent_path() / "../../resources/images");
  candidates.push_back(fs::path(model_dir) / "../images");
  std::string tried;
  for (const fs::path& dir : candidates) {
    if (has_builtin_images(dir)) return dir.lexically_normal().string();
    tried += (tried.empty() ? "" : ", ") + dir.lexically_normal().string();
  }
  return err("the built-in prompts need the demo pictures shapes.png, bar_chart.png and stop_sign.png, found in "
             "none of: {}; set QUANTLENS_RESOURCES to the resources folder or pass --prompts FILE",
             tried);
}

// Everything that can be checked without loading a model, so bad arguments fail fast.
Result<engine::CompareRequest> build_request(const CompareOptions& o) {
  QL_ASSIGN_OR_RETURN(engine::CompareRequest r, compare_request_of(o.run));
  if (!o.prompts_file.empty()) {
    auto prompts = engine::load_compare_prompts(o.prompts_file);
    if (!prompts) return prompts.error();
    r.prompts = std::move(prompts).value();
  } else {
    auto dir = demo_images_dir(o.run.model_dir);
    if (!dir) return dir.error();
    r.prompts = engine::builtin_compare_prompts(*dir);
  }
  return r;
}

// At most `width` characters (not bytes: never cuts a UTF-8 sequence), on one line.
std::string one_line(const std::string& text, size_t width) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const bool starts_char = (c & 0xC0) != 0x80;
    if (starts_char && ++chars > width) {
      out += "...";
      break;
    }
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : text[i];
  }
  return out;
}

std::string answer_text(const engine::PromptOutcome& p) {
  if (!p.answer.empty() || p.answer_ids.empty()) return p.answer;
  return fmt::format("ids {}", fmt::join(p.answer_ids, " "));  // no tokenizer: the ids say it
}

std::string row_name(const engine::PrecisionRow& r) { return r.reference ? r.name + " (ref)" : r.name; }

void print_text(const engine::CompareReport& report) {
  size_t name_width = 9;
  for (const auto& r : report.precisions) name_width = std::max(name_width, row_name(r).size());
  std::cout << fmt::format("reference {}; {} prompts, {} teacher-forced tokens each; precisions loaded {}\n",
                           report.reference, report.prompts.size(), report.tokens,
                           report.sequential ? "one after another" : "together");
  std::cout << fmt::format("placement: {}\n\n", report.placement);
  std::cout << fmt::format("{:<{}}  {:>11}  {:>10}  {:>10}  {:>6}  {:>12}  {:>8}\n", "precision", name_width,
                           "weights MiB", "KL mean", "KL p99", "top-1", "decode tok/s", "TTFT ms");
  for (const auto& r : report.precisions) {
    std::cout << fmt::format("{:<{}}  {:>11.1f}  {:>10.4g}  {:>10.4g}  {:>6.3f}  {:>12.1f}  {:>8.1f}\n", row_name(r),
                             name_width, static_cast<double>(r.weight_bytes) / (1024.0 * 1024.0), r.fidelity.kl_mean,
                             r.fidelity.kl_p99, r.fidelity.top1_agreement, r.decode_tok_s, r.ttft_ms);
  }
  for (const auto& r : report.precisions) {
    if (!r.loaded_precision.empty() && r.loaded_precision != r.name) {
      std::cout << fmt::format("note: {} was loaded as {}\n", r.name, r.loaded_precision);
    }
  }
  std::cout << fmt::format("\ngreedy answers (up to {} tokens; in full with --json)\n", report.tokens);
  for (size_t j = 0; j < report.prompts.size(); ++j) {
    std::cout << fmt::format("\n[{}] {}\n", j + 1, one_line(report.prompts[j].label, kAnswerWidth));
    for (const auto& r : report.precisions) {
      std::cout << fmt::format("  {:<{}} | {}\n", row_name(r), name_width,
                               one_line(answer_text(r.prompts[j]), kAnswerWidth));
    }
  }
}

int run_compare(const CompareOptions& o) {
  auto request = build_request(o);
  if (!request) return report(request.error());
  engine::Engine engine(&imageio::decode_image_file);
  Result<engine::CompareReport> result =
      run_cancellable_compare(engine, *request, compare_progress_printer(o.verbose));
  if (o.verbose) std::cerr << "\n";
  if (!result) {
    if (engine::Engine::is_cancelled(result.error())) {
      std::cerr << "quantlens-cli: compare cancelled\n";
      return kExitFailure;
    }
    return report(result.error());
  }
  if (o.json) {
    // Answers are valid UTF-8 (the detokenizer repairs them), but never let dump() throw.
    std::cout << engine::compare_report_json(*result).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    print_text(*result);
  }
  return kExitOk;
}

}  // namespace

void add_compare_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<CompareOptions>();
  auto* cmd = app.add_subcommand("compare", "Measure the fidelity and speed of several precisions of one model "
                                            "against the 16-bit reference, on the same prompts");
  cmd->add_option("--model", o->run.model_dir, "Model folder")->required();
  add_backend_option(cmd, o->run.backend);
  cmd->add_option("--precisions", o->run.precisions,
                  "Comma list of precisions, e.g. bf16,int8,nf4,nf4-mixed. The first 16-bit one is the reference "
                  "(bf16 is added when none is). A key=format item belongs to the entry before it "
                  "(nf4,lm_head=bf16); separate with ';' to list such policies apart")
      ->required()
      ->check(not_empty_text());
  cmd->add_option("--prompts", o->prompts_file,
                  "JSON array of {\"text\", \"images\": [paths], \"system\"} or {\"input_ids\", \"images\"} "
                  "(relative image paths from the file's folder). Default: a built-in set of text and image "
                  "questions on the demo pictures");
  cmd->add_option("--tokens", o->run.tokens, "Teacher-forced continuation and answer length in tokens")
      ->capture_default_str();
  cmd->add_option("--threads", o->run.threads, "CPU threads (default: every core)");
  cmd->add_option("--context", o->run.context, "KV cache size in tokens (default: 4096, capped by the model)")
      ->check(positive_tokens());
  cmd->add_option("--vram", o->run.vram_gib,
                  "Memory budget in GiB: every precision must fit it alone, and they are held together when "
                  "their plans fit it together (default: no budget, one after another)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", o->json,
                "Print one JSON object: {reference, sequential, placement, tokens, prompts, precisions: [{name, "
                "weights_bytes, kl_mean, kl_p99, top1_agreement, decode_tok_s, ttft_ms, answers, ...}]}");
  cmd->add_flag("--verbose", o->verbose, "Report progress on stderr");
  cmd->footer("KL: mean and nearest-rank p99 of KL(reference || precision) in nats over every teacher-forced "
              "position of every prompt. Exit codes: 0 ok; 2 bad arguments or input; 1 other failures, or "
              "cancelled (Ctrl+C, SIGTERM, SIGHUP).");
  cmd->callback([o, &exit_code] { exit_code = run_compare(*o); });
}

}  // namespace ql::cli
