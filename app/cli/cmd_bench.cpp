// quantlens-cli bench --model DIR|synthetic:NAME --precision P[,P...] [--backend B] [--json] ...
// The benchmark of core/engine/bench.h: per precision, weights, load time,
// decode tokens/s at batch 1, prefill tokens/s for 512 tokens, prompt to first
// token with one 1024x1024 image, peak memory, and the achieved weight
// bandwidth against the copy bandwidth measured in the same run.
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "app/cli/engine_cli.h"
#include "core/engine/bench.h"
#include "core/engine/compare_plan.h"

namespace ql::cli {
namespace {

struct BenchOptions {
  std::string model, precisions = "bf16", backend = "auto";
  int threads = 0, repetitions = 5, image_side = 1024;
  int64_t context = 0, decode_tokens = 128, prefill_tokens = 512;
  std::vector<int> batches = {4, 16};
  bool json = false, verbose = false;
};

nlohmann::json spread_json(const engine::Spread& s) {
  return {{"median", s.median}, {"min", s.min}, {"max", s.max}};
}

nlohmann::json report_json(const engine::BenchReport& r, const BenchOptions& o) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& x : r.rows) {
    rows.push_back({{"precision", x.precision},
                    {"backend", x.backend},
                    {"device", x.device},
                    {"weights_gib", x.weights_gib},
                    {"load_s", x.load_s},
                    {"decode_tok_s", spread_json(x.decode_tok_s)},
                    {"batched_decode", [&] {
                       nlohmann::json b = nlohmann::json::array();
                       for (const auto& d : x.batched) b.push_back({{"batch", d.batch}, {"tok_s", spread_json(d.tok_s)}});
                       return b;
                     }()},
                    {"prefill_tok_s", spread_json(x.prefill_tok_s)},
                    {"image_ttft_ms", spread_json(x.image_ttft_ms)},
                    {"image_tokens", x.image_tokens},
                    {"peak_gib", x.peak_gib},
                    {"kv_cache_gib", x.kv_cache_gib},
                    {"device_used_gib", x.device_used_gib},
                    {"device_total_gib", x.device_total_gib},
                    {"active_weight_gib_per_token", x.active_weight_gib_per_token},
                    {"achieved_gb_s", x.achieved_gb_s},
                    {"copy_gb_s", x.copy_gb_s},
                    {"fraction_of_copy", x.fraction_of_copy}});
  }
  return {{"model", o.model},
          {"repetitions", o.repetitions},
          {"decode_tokens", o.decode_tokens},
          {"prefill_tokens", o.prefill_tokens},
          {"image_side", o.image_side},
          {"rows", rows}};
}

void print_table(const engine::BenchReport& r) {
  std::cout << fmt::format("{:<12} {:>8} {:>7} {:>20} {:>22} {:>20} {:>8} {:>14}\n", "precision", "weights", "load",
                           "decode tok/s", "prefill tok/s", "image TTFT ms", "peak", "weight BW");
  for (const auto& x : r.rows) {
    auto sp = [](const engine::Spread& s, const char* f) {
      return fmt::format(fmt::runtime(f), s.median, s.min, s.max);
    };
    std::cout << fmt::format("{:<12} {:>6.2f}Gi {:>6.1f}s {:>20} {:>22} {:>20} {:>6.2f}Gi {:>6.0f} GB/s {:>3.0f}%\n",
                             x.precision, x.weights_gib, x.load_s, sp(x.decode_tok_s, "{:.0f} [{:.0f}-{:.0f}]"),
                             sp(x.prefill_tok_s, "{:.0f} [{:.0f}-{:.0f}]"),
                             sp(x.image_ttft_ms, "{:.1f} [{:.1f}-{:.1f}]"), x.peak_gib, x.achieved_gb_s,
                             100 * x.fraction_of_copy);
  }
  for (const auto& x : r.rows)
    for (const auto& d : x.batched)
      std::cout << fmt::format("{:<12} decode at batch {:>2}: {:.0f} [{:.0f}-{:.0f}] tok/s aggregate\n", x.precision,
                               d.batch, d.tok_s.median, d.tok_s.min, d.tok_s.max);
  if (!r.rows.empty())
    std::cout << fmt::format("on {} ({}); copy bandwidth {:.0f} GB/s; medians [min-max] over the repetitions\n",
                             r.rows[0].device, r.rows[0].backend, r.rows[0].copy_gb_s);
}

int run(BenchOptions o) {
  std::erase(o.batches, 0);  // --batches 0: none
  engine::BenchRequest req;
  req.model = o.model;
  req.precisions = engine::split_precision_list(o.precisions);
  auto choice = backend_choice(o.backend);
  if (!choice) return report(choice.error());
  req.backend = *choice;
  req.threads = o.threads;
  req.context_tokens = o.context;
  req.repetitions = o.repetitions;
  req.decode_tokens = o.decode_tokens;
  req.prefill_tokens = o.prefill_tokens;
  req.image_side = o.image_side;
  req.batches = o.batches;
  engine::BenchProgress progress;
  if (o.verbose) progress = [](const std::string& s) { std::cerr << "bench: " << s << "\n"; };
  auto r = engine::run_bench(req, progress);
  if (!r) return report(r.error());
  if (o.json)
    print_json(report_json(*r, o));
  else
    print_table(*r);
  return kExitOk;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure load, decode, prefill, image time to first token, memory");
  cmd->add_option("--model", o->model, "Model folder, or synthetic:NAME (qwen3-vl-30b-a3b, qwen3-vl-30b-a3b-l12, tiny)")
      ->required();
  cmd->add_option("--precision", o->precisions, "Precisions, comma-separated (each a preset or a list)")
      ->capture_default_str()
      ->check(not_empty_text());
  add_backend_option(cmd, o->backend);
  cmd->add_option("--context", o->context, "KV cache size in tokens (default: 4096, capped by the model)")
      ->check(positive_tokens());
  cmd->add_option("--threads", o->threads, "CPU threads (default: every core)");
  cmd->add_option("--repetitions", o->repetitions, "Timed runs of each figure, after one warm-up")
      ->capture_default_str();
  cmd->add_option("--decode-tokens", o->decode_tokens, "Tokens generated per decode run")->capture_default_str();
  cmd->add_option("--prefill-tokens", o->prefill_tokens, "Prompt tokens per prefill run")->capture_default_str();
  cmd->add_option("--image-side", o->image_side, "Side of the square test image in pixels (0: no image figure)")
      ->capture_default_str();
  cmd->add_option("--batches", o->batches,
                  "Batched decode figures: sequences decoded together, comma-separated (2-16; the KV cache holds "
                  "the largest; give --batches 0 for none)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->add_flag("--verbose", o->verbose, "Report each stage on stderr");
  cmd->callback([o, &exit_code] { exit_code = run(*o); });
}

}  // namespace ql::cli
