// quantlens-cli plan (--model DIR | --config FILE) --precision P [--context N]
//                    [--batch B] [--vram GiB] [--json]
// The memory plan of a precision before loading: weight bytes per component,
// KV cache, workspace, runtime overhead and total, and with --vram whether it
// fits. Reads only config.json (and preprocessor_config.json for the largest
// image), so it works on a folder without weights.
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/common/mapped_file.h"
#include "app/cli/cli_common.h"
#include "app/cli/engine_cli.h"
#include "core/model/model_config.h"
#include "core/quant/memory_budget.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"
#include "core/quant/tensor_precision.h"
#include "core/vision/preprocess_config.h"

namespace ql::cli {
namespace {

using model::Component;
using quant::MemoryPlan;
using quant::WorkspaceStep;

constexpr Component kComponents[] = {Component::kVision,     Component::kAttention, Component::kRouter,
                                     Component::kExperts,    Component::kDenseMlp,  Component::kEmbeddings,
                                     Component::kLmHead,     Component::kTextNorms};
constexpr WorkspaceStep kSteps[] = {WorkspaceStep::kLoading, WorkspaceStep::kVision, WorkspaceStep::kPrefill,
                                    WorkspaceStep::kDecode};

struct PlanOptions {
  std::string model_dir;
  std::string config_file;
  std::string precision;
  int64_t context = 8192;
  int64_t batch = 1;
  std::optional<double> vram_gib;
  bool json = false;
};

struct PlanInputs {
  std::string source;  // the config.json path
  model::ModelConfig config;
  vision::PreprocessConfig preprocess;
};

// The config from --model DIR or --config FILE; the preprocessor settings
// from the same folder (published defaults when it has none).
Result<PlanInputs> load_inputs(const PlanOptions& o) {
  if (o.model_dir.empty() == o.config_file.empty())
    return err("plan: give exactly one of --model DIR or --config FILE");
  PlanInputs in;
  std::string dir = o.model_dir;
  if (!o.model_dir.empty()) {
    auto c = model::load_model_config(o.model_dir);
    if (!c) return c.error();
    in.config = std::move(c).value();
  } else {
    auto text = ql::read_text_file(o.config_file);
    if (!text) return text.error();
    auto c = model::parse_model_config(*text, o.config_file);
    if (!c) return c.error();
    in.config = std::move(c).value();
    dir = std::filesystem::path(o.config_file).parent_path().string();
    if (dir.empty()) dir = ".";
  }
  in.source = in.config.source;
  auto pre = vision::load_preprocess_config(dir);
  if (!pre) return pre.error();
  in.preprocess = *pre;
  return in;
}

// 31070754032 -> "31,070,754,032"
std::string with_commas(int64_t v) {
  const std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}

double gib(int64_t bytes) { return static_cast<double>(bytes) / static_cast<double>(quant::kGiB); }

std::string component_format(const MemoryPlan& p, Component c) {
  return std::string(quant::policy_format_name(p.policy[quant::policy_key_for(c)]));
}

std::string kv_dtype_name(int64_t element_bytes) {
  return element_bytes == 1 ? "8-bit" : element_bytes == 2 ? "bf16" : "fp32";
}

nlohmann::json plan_json(const PlanInputs& in, const std::string& requested, const MemoryPlan& p,
                         const std::optional<quant::MemoryBudget>& budget, double vram_gib) {
  nlohmann::json components = nlohmann::json::object(), formats = nlohmann::json::object(),
                 steps = nlohmann::json::object();
  for (Component c : kComponents) components[std::string(model::component_name(c))] = p[c];
  for (quant::PolicyKey k : quant::kPolicyKeys)
    formats[std::string(quant::policy_key_name(k))] = std::string(quant::policy_format_name(p.policy[k]));
  for (WorkspaceStep s : kSteps) steps[std::string(quant::workspace_step_name(s))] = p.workspace[s];
  nlohmann::json j = {
      {"config", in.source},
      {"precision", quant::precision_string(p.policy)},
      {"requested_precision", requested},
      {"formats", formats},
      {"context", p.request.context_tokens},
      {"batch", p.request.batch},
      {"components", components},
      {"weights_bytes", p.weights_bytes},
      {"kv_cache_bytes", p.kv_cache_bytes},
      {"kv_cache_dtype", kv_dtype_name(p.request.kv_element_bytes)},
      {"workspace_bytes", p.workspace_bytes()},
      {"workspace_steps", steps},
      {"workspace_largest_step", std::string(quant::workspace_step_name(p.workspace.largest()))},
      {"runtime_overhead_bytes", p.runtime_overhead_bytes},
      {"total_bytes", p.total_bytes()},
  };
  if (budget) {
    const quant::FitCheck fit = quant::check_fit(p, *budget);
    j["vram_gib"] = vram_gib;
    j["usable_bytes"] = budget->usable_bytes();
    j["fits"] = fit.fits;
    j["margin_bytes"] = fit.margin_bytes;
  }
  return j;
}

void print_row(const std::string& name, const std::string& format, uint64_t bytes, const std::string& note = "") {
  const auto b = static_cast<int64_t>(bytes);
  fmt::print("  {:<12}{:<7}{:>18}{:>10.3f} GiB{}\n", name, format, with_commas(b), gib(b),
             note.empty() ? "" : "  " + note);
}

void print_text(const PlanInputs& in, const std::string& requested, const MemoryPlan& p,
                const std::optional<quant::MemoryBudget>& budget, double vram_gib) {
  const std::string resolved = quant::precision_string(p.policy);
  const auto& r = p.request;
  fmt::print("Memory plan    {}{}, context {}, batch {}\n", requested,
             requested == resolved ? "" : " -> " + resolved, r.context_tokens, r.batch);
  fmt::print("Config         {}\n\n", in.source);
  fmt::print("  {:<12}{:<7}{:>18}{:>14}\n", "component", "format", "bytes", "GiB");
  for (Component c : kComponents) {
    if (c == Component::kDenseMlp && p[c] == 0) continue;  // no mlp_only layers
    print_row(std::string(model::component_name(c)), component_format(p, c), p[c]);
  }
  print_row("weights", "", p.weights_bytes);
  const auto& t = in.config.text;
  print_row("KV cache", kv_dtype_name(r.kv_element_bytes), p.kv_cache_bytes,
            fmt::format("K+V x {} layers x {} KV heads x {} x {} tokens x {} seq", t.num_layers, t.num_kv_heads,
                        t.head_dim, r.context_tokens, r.batch));
  print_row("workspace", "", p.workspace_bytes(),
            fmt::format("largest step: {}", quant::workspace_step_name(p.workspace.largest())));
  print_row("runtime", "", p.runtime_overhead_bytes, "CUDA context, cuBLAS workspaces");
  print_row("total", "", p.total_bytes());
  fmt::print("\n  Norms, biases, the patch embedding and the position table stay {} (inside the rows above).\n",
             quant::policy_format_name(p.policy[quant::PolicyKey::kNorms]));
  std::vector<std::string> steps;
  for (WorkspaceStep s : kSteps)
    steps.push_back(fmt::format("{} {:.3f}", quant::workspace_step_name(s), gib(static_cast<int64_t>(p.workspace[s]))));
  fmt::print("  Workspace per step (GiB): {}\n", fmt::join(steps, ", "));
  if (!budget) return;
  const quant::FitCheck fit = quant::check_fit(p, *budget);
  fmt::print("\nVRAM {} GiB: usable {:.3f} GiB ({:.3f} GiB left to the driver and display): {}, margin {:.3f} GiB\n",
             vram_gib, gib(static_cast<int64_t>(budget->usable_bytes())),
             gib(static_cast<int64_t>(quant::kDeviceReserveBytes)), fit.fits ? "fits" : "does not fit",
             gib(fit.margin_bytes));
}

int run_plan(const PlanOptions& o) {
  auto inputs = load_inputs(o);
  if (!inputs) return report(inputs.error());
  auto choice = quant::parse_precision(o.precision);
  if (!choice) return report(choice.error());
  std::optional<quant::MemoryBudget> budget;
  if (o.vram_gib) {
    auto b = quant::budget_from_gib(*o.vram_gib);
    if (!b) return report(b.error());
    budget = *b;
  }
  if (choice->automatic && !budget)
    return report(err("--precision auto needs --vram GiB: the budget it picks the highest fitting preset for"));
  quant::PlanRequest request;
  request.context_tokens = o.context;
  request.batch = o.batch;
  request.max_image_pixels = inputs->preprocess.max_pixels;
  auto plan = quant::plan_precision(inputs->config, *choice, request, budget);
  if (!plan) return report(plan.error());
  const std::string requested = quant::precision_string(*choice);
  if (o.json) {
    print_json(plan_json(*inputs, requested, *plan, budget, o.vram_gib.value_or(0.0)));
  } else {
    print_text(*inputs, requested, *plan, budget, o.vram_gib.value_or(0.0));
  }
  return kExitOk;
}

}  // namespace

void add_plan_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<PlanOptions>();
  auto* cmd = app.add_subcommand("plan", "Plan GPU memory for a precision: weights, KV cache, workspace, total");
  auto* model_opt = cmd->add_option("--model", o->model_dir, "Model folder holding config.json");
  auto* config_opt = cmd->add_option("--config", o->config_file, "A config.json file");
  model_opt->excludes(config_opt);
  cmd->add_option("--precision", o->precision,
                  "A preset (" + quant::valid_presets_text() +
                      "), a list key=format (keys " + quant::valid_keys_text() +
                      "; formats bf16, fp16, int8, nf4), or a preset then overrides: nf4,lm_head=bf16")
      ->required();
  cmd->add_option("--context", o->context, "KV cache capacity per sequence, in tokens")
      ->capture_default_str()
      ->check(positive_tokens());
  cmd->add_option("--batch", o->batch, "Sequences decoded together")->capture_default_str();
  cmd->add_option("--vram", o->vram_gib, "GPU memory in GiB (24 for a 24 GB card); needed by --precision auto");
  cmd->add_flag("--json", o->json, "Print the plan as one JSON object");
  cmd->footer(
      "A card of G GiB leaves G - 0.5 GiB to the process (the rest is the driver's); the plan's total\n"
      "includes 0.5 GiB of CUDA context and cuBLAS workspaces. Give a smaller --vram if the card also\n"
      "drives a display.\n"
      "Exit codes:\n"
      "  0  a plan was made, also when it does not fit --vram: that is an answer, not an error\n"
      "  1  an I/O failure\n"
      "  2  bad input: unknown precision (the valid presets and keys are listed), bad --context,\n"
      "     --batch or --vram, auto without --vram, or a missing or invalid config.json");
  cmd->callback([o, &exit_code] { exit_code = run_plan(*o); });
}

}  // namespace ql::cli
