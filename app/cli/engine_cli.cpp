#include "app/cli/engine_cli.h"

#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/quant/precision_policy.h"

namespace ql::cli {

Result<backend::BackendChoice> backend_choice(const std::string& text) {
  auto c = backend::parse_backend_choice(text);
  if (!c) return err("--backend: {}", c.error().message);
  return c;
}

void add_backend_option(CLI::App* cmd, std::string& backend) {
  cmd->add_option("--backend", backend,
                  "Where the model runs: auto (the CUDA GPU when a usable one is there, else the CPU, saying why), "
                  "cuda, or cpu")
      ->capture_default_str();
}

CLI::Validator not_empty_text() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        return s.find_first_not_of(" \t") == std::string::npos ? "is empty; give a value or leave the option out"
                                                              : std::string();
      },
      "TEXT", "not empty");
}

CLI::Validator positive_tokens() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        long long v = 0;
        try {
          size_t used = 0;
          v = std::stoll(s, &used);
          if (used != s.size()) return "\"" + s + "\" is not a whole number of tokens";
        } catch (const std::exception&) {
          return "\"" + s + "\" is not a whole number of tokens";
        }
        return v > 0 ? std::string() : s + " tokens: must be at least 1 (leave the option out for the default)";
      },
      "TOKENS", "positive");
}

void add_model_options(CLI::App* cmd, EngineCliOptions& o) {
  cmd->add_option("--model", o.model_dir,
                  "Model folder (config.json, safetensors, generation_config.json), or synthetic:NAME")
      ->required();
  add_backend_option(cmd, o.backend);
  cmd->add_option("--precision", o.precision,
                  "Weight precision, quantized while loading: a preset (" + quant::valid_presets_text() +
                      "), a list key=format (keys " + quant::valid_keys_text() +
                      "; formats bf16, fp16, int8, nf4), or a preset then overrides: nf4,lm_head=bf16 "
                      "(default: the checkpoint's dtype, bf16)")
      ->check(not_empty_text());
  cmd->add_option("--vram", o.vram_gib,
                  "GPU memory budget in GiB: a precision whose memory plan (weights, KV cache, workspace) does "
                  "not fit is refused before loading; needed by --precision auto, which picks the highest "
                  "preset that fits")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--context", o.context, "KV cache size in tokens (default: 4096, capped by the model)")
      ->check(positive_tokens());
  cmd->add_option("--threads", o.threads, "CPU threads (default: every core)");
  cmd->add_flag("--verbose", o.verbose, "Report loading progress and timings on stderr");
}

void add_engine_options(CLI::App* cmd, EngineCliOptions& o) {
  add_model_options(cmd, o);
  cmd->add_option("--max-new-tokens", o.max_new_tokens, "Most tokens to generate")
      ->capture_default_str()
      ->check(positive_tokens());
  o.temperature_opt = cmd->add_option("--temperature", o.temperature,
                                      "Sampling temperature; 0 = greedy (default: generation_config.json)");
  o.top_p_opt = cmd->add_option("--top-p", o.top_p, "Nucleus sampling mass in (0, 1]; 1 = off");
  o.top_k_opt = cmd->add_option("--top-k", o.top_k, "Keep the K most likely tokens; 0 = off");
  o.min_p_opt = cmd->add_option("--min-p", o.min_p, "Drop tokens below MIN_P x the top probability; 0 = off");
  o.repetition_opt =
      cmd->add_option("--repetition-penalty", o.repetition_penalty, "Penalise tokens already in the sequence; 1 = off");
  o.presence_opt = cmd->add_option("--presence-penalty", o.presence_penalty,
                                   "Subtract from the logits of tokens already present; 0 = off");
  o.seed_opt = cmd->add_option("--seed", o.seed, "Random seed for sampling, 0 to 18446744073709551615 (default: a fresh one)")
                   ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--ignore-eos", o.ignore_eos, "Keep generating past end-of-sequence tokens");
}

engine::SamplingOptions sampling_options(const EngineCliOptions& o) {
  engine::SamplingOptions s;
  if (o.temperature_opt->count()) s.temperature = o.temperature;
  if (o.top_p_opt->count()) s.top_p = o.top_p;
  if (o.top_k_opt->count()) s.top_k = o.top_k;
  if (o.min_p_opt->count()) s.min_p = o.min_p;
  if (o.repetition_opt->count()) s.repetition_penalty = o.repetition_penalty;
  if (o.presence_opt->count()) s.presence_penalty = o.presence_penalty;
  if (o.seed_opt->count()) s.seed = o.seed;
  return s;
}

std::function<void(double)> prefill_printer(bool verbose) {
  using Clock = std::chrono::steady_clock;
  return [verbose, start = Clock::time_point(), shown = false, last = -1](double f) mutable {
    if (start == Clock::time_point()) start = Clock::now();
    const bool slow = Clock::now() - start > std::chrono::seconds(1);
    const int percent = static_cast<int>(100 * f);
    if (f >= 1.0) {
      if (shown) std::cerr << "\r" << std::string(40, ' ') << "\r" << std::flush;
      return;
    }
    if ((!verbose && !slow) || percent == last) return;
    std::cerr << fmt::format("\rreading the prompt: {:3d}%", percent) << std::flush;
    shown = true;
    last = percent;
  };
}

Status load_engine(engine::Engine& engine, const EngineCliOptions& o, const model::LoadProgress& also) {
  engine::LoadOptions lo;
  QL_ASSIGN_OR_RETURN(lo.backend, backend_choice(o.backend));
  lo.threads = o.threads;
  lo.context_tokens = o.context;
  lo.parallel = o.parallel;
  lo.precision = o.precision;
  lo.memory_budget_gib = o.vram_gib;
  // Loading reports per tensor: print only when the whole percent or the stage changes.
  model::LoadProgress progress = [verbose = o.verbose, also, last = std::string()](double f,
                                                                                  const std::string& stage) mutable {
    if (also) also(f, stage);
    if (!verbose) return;
    std::string line = fmt::format("loading: {:3.0f}% {}", 100 * f, stage);
    if (line == last) return;
    std::cerr << "\r" << fmt::format("{:<50}", line) << std::flush;
    last = std::move(line);
  };
  Status st = engine.load(o.model_dir, lo, progress);
  if (o.verbose) std::cerr << "\n";
  if (st.ok() && !engine.info()->backend_note.empty())
    std::cerr << "quantlens-cli: note: " << engine.info()->backend_note << "\n";
  if (st.ok() && o.verbose) {
    const auto info = engine.info();
    std::cerr << fmt::format("model {} on {} ({}), precision {}, weights {:.1f} MiB, context {} tokens, tokenizer: {}\n",
                             info->dir, info->backend_name, info->device, info->precision,
                             static_cast<double>(info->weight_bytes) / (1024.0 * 1024.0), info->context_tokens,
                             info->tokenizer_note);
  }
  return st;
}

}  // namespace ql::cli
