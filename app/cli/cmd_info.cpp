// quantlens-cli info DIR [--json]
// Summarises a model folder: the architecture from config.json, parameter
// counts per component, the tensors and dtypes found, the fused-expert
// orientation, and every way the weights disagree with the config.
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "app/cli/cli_common.h"
#include "core/model/bnb_modules.h"
#include "core/model/model_inspection.h"

namespace ql::cli {
namespace {

using model::Component;
using model::ModelInspection;
using model::WeightsState;

// A valid config.json but no weights: the summary comes from the config alone.
constexpr int kExitNoWeights = 3;

constexpr Component kComponents[] = {Component::kVision,    Component::kAttention, Component::kRouter,
                                     Component::kExperts,   Component::kDenseMlp,  Component::kTextNorms,
                                     Component::kEmbeddings, Component::kLmHead};

struct InfoOptions {
  std::string dir;
  bool json = false;
  bool check = false;
};

// 31070754032 -> "31,070,754,032"
std::string grouped(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

// 1536 -> "1.50 KiB"
std::string human_bytes(uint64_t b) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(units)) v /= 1024.0, ++u;
  return u == 0 ? fmt::format("{} bytes", b) : fmt::format("{:.2f} {}", v, units[u]);
}

// How many fused expert tensors use each orientation.
std::pair<size_t, size_t> orientation_counts(const ModelInspection& m) {
  size_t in_out = 0, out_in = 0;
  for (const auto& [name, o] : m.validation.expert_orientation)
    (o == model::ExpertOrientation::kInOut ? in_out : out_in)++;
  return {in_out, out_in};
}

const char* weights_state_name(WeightsState s) {
  switch (s) {
    case WeightsState::kValid: return "valid";
    case WeightsState::kInvalid: return "invalid";
    case WeightsState::kNone: return "none";
  }
  return "?";
}

nlohmann::json config_json(const model::ModelConfig& c) {
  const auto& t = c.text;
  const auto& v = c.vision;
  return {
      {"model_type", c.model_type},
      {"dtype", c.dtype ? nlohmann::json(model::dtype_name(*c.dtype)) : nlohmann::json()},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"text",
       {{"layers", t.num_layers}, {"moe_layers", t.num_moe_layers()}, {"hidden_size", t.hidden_size},
        {"attention_heads", t.num_heads}, {"kv_heads", t.num_kv_heads}, {"head_dim", t.head_dim},
        {"vocab_size", t.vocab_size}, {"experts", t.num_experts}, {"experts_per_token", t.num_experts_per_tok},
        {"expert_intermediate_size", t.moe_intermediate_size}, {"dense_intermediate_size", t.intermediate_size},
        {"rope_theta", t.rope_theta}, {"mrope_section", t.mrope_section}, {"rms_norm_eps", t.rms_norm_eps}}},
      {"vision",
       {{"depth", v.depth}, {"hidden_size", v.hidden_size}, {"heads", v.num_heads},
        {"intermediate_size", v.intermediate_size}, {"patch_size", v.patch_size},
        {"temporal_patch_size", v.temporal_patch_size}, {"spatial_merge_size", v.spatial_merge_size},
        {"out_hidden_size", v.out_hidden_size}, {"deepstack_visual_indexes", v.deepstack_visual_indexes},
        {"rope_theta", v.rope_theta}}},
      {"token_ids",
       {{"image", c.image_token_id}, {"video", c.video_token_id}, {"vision_start", c.vision_start_token_id},
        {"vision_end", c.vision_end_token_id}}},
  };
}

// A bitsandbytes folder (quantization_config): its format and which modules
// are stored quantized; null for a 16-bit folder.
nlohmann::json quantization_json(const ModelInspection& m) {
  if (!m.config.quantization) return nullptr;
  const auto& q = *m.config.quantization;
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& mod : model::bnb_quantized_modules(m.schema, q.skip_modules)) modules.push_back(mod.name);
  return {{"method", "bitsandbytes"},
          {"format", model::bnb_format_name(q)},
          {"double_quant", q.format == quant::QuantFormat::kNf4},
          {"skip_modules", q.skip_modules},
          {"int8_threshold", q.int8_threshold},
          {"quantized_modules", modules}};
}

std::string quantization_text(const ModelInspection& m) {
  const auto& q = *m.config.quantization;
  const auto modules = model::bnb_quantized_modules(m.schema, q.skip_modules);
  std::vector<std::string> components;
  for (const auto& mod : modules) {
    const std::string c(model::component_name(mod.weight->component));
    if (std::find(components.begin(), components.end(), c) == components.end()) components.push_back(c);
  }
  return fmt::format("bitsandbytes {} checkpoint{}: {} Linear modules stored quantized ({}); skipped: [{}]",
                     model::bnb_format_name(q),
                     q.format == quant::QuantFormat::kNf4 ? " (NF4, double quantization)" : " (LLM.int8)",
                     modules.size(), fmt::join(components, ", "), fmt::join(q.skip_modules, ", "));
}

nlohmann::json inspection_json(const ModelInspection& m, int exit_code) {
  nlohmann::json params = {{"source", m.counts_from_checkpoint ? "checkpoint" : "config"}};
  for (Component c : kComponents) params[std::string(model::component_name(c))] = m.parameters[c];
  params["other"] = m.parameters.other;
  params["total"] = m.parameters.total();
  params["text_per_token"] = m.text_parameters_per_token;

  nlohmann::json weights = {{"state", weights_state_name(m.weights)}};
  if (m.contents) {
    nlohmann::json dtypes = nlohmann::json::object();
    for (const auto& [dt, n] : m.contents->tensors_by_dtype) dtypes[std::string(model::dtype_name(dt))] = n;
    weights["tensor_count"] = m.contents->tensor_count;
    weights["shard_count"] = m.contents->shard_count;
    weights["bytes"] = m.contents->tensor_bytes;
    weights["dtypes"] = dtypes;
  }
  const auto [in_out, out_in] = orientation_counts(m);
  nlohmann::json per_tensor = nlohmann::json::object();
  for (const auto& [name, o] : m.validation.expert_orientation)
    per_tensor[name] = std::string(model::orientation_name(o));

  nlohmann::json gen;  // null when generation_config.json is invalid
  if (m.generation) {
    const auto& g = *m.generation;
    gen = {{"source", g.source},       {"from_file", g.from_file},       {"eos_token_ids", g.eos_token_ids}, {"do_sample", g.do_sample},
           {"temperature", g.temperature}, {"top_p", g.top_p},             {"top_k", g.top_k},
           {"repetition_penalty", g.repetition_penalty}};
  }
  return {
      {"model_dir", m.dir},
      {"config", config_json(m.config)},
      {"quantization", quantization_json(m)},
      {"generation", gen},
      {"schema_tensor_count", m.schema.size()},
      {"parameters", params},
      {"weights", weights},
      {"expert_orientation", {{"in_out", in_out}, {"out_in", out_in}, {"tensors", per_tensor}}},
      {"validation",
       {{"ok", m.validation.ok()},
        {"summary", m.validation.summary()},
        {"problems", m.validation.problems},
        {"values_scanned", m.values_scanned}}},
      {"exit_code", exit_code},
  };
}

void print_text(const ModelInspection& m) {
  const auto& c = m.config;
  const auto& t = c.text;
  const auto& v = c.vision;
  fmt::print("Model          {} ({})\n", m.dir, c.model_type.empty() ? "model_type not given" : c.model_type);
  fmt::print("Text decoder   {} layers ({} MoE, {} dense), hidden {}, vocab {}\n", t.num_layers, t.num_moe_layers(),
             t.num_layers - t.num_moe_layers(), t.hidden_size, t.vocab_size);
  fmt::print("Attention      {} query heads, {} KV heads, head dim {}, rope theta {}, mrope section [{}]\n",
             t.num_heads, t.num_kv_heads, t.head_dim, t.rope_theta, fmt::join(t.mrope_section, ", "));
  fmt::print("Experts        {} per MoE layer, top-{}, expert width {}\n", t.num_experts, t.num_experts_per_tok,
             t.moe_intermediate_size);
  fmt::print("Vision tower   {} blocks, hidden {}, {} heads, MLP {}, patch {}x{}x{}, merge {}x{}, "
             "deepstack blocks [{}], out {}\n",
             v.depth, v.hidden_size, v.num_heads, v.intermediate_size, v.temporal_patch_size, v.patch_size,
             v.patch_size, v.spatial_merge_size, v.spatial_merge_size, fmt::join(v.deepstack_visual_indexes, ", "),
             v.out_hidden_size);
  fmt::print("Token ids      image {}, video {}, vision start {}, vision end {}; tied embeddings: {}\n",
             c.image_token_id, c.video_token_id, c.vision_start_token_id, c.vision_end_token_id,
             c.tie_word_embeddings ? "yes" : "no");
  if (m.config.quantization) fmt::print("Quantization   {}\n", quantization_text(m));
  if (m.generation) {
    const auto& g = *m.generation;
    fmt::print("Generation     eos [{}], sampling {}, temperature {}, top-p {}, top-k {}, repetition penalty {}{}\n",
               fmt::join(g.eos_token_ids, ", "), g.do_sample ? "on" : "off", g.temperature, g.top_p, g.top_k,
               g.repetition_penalty, g.from_file ? "" : " (no generation_config.json: published defaults)");
  }

  fmt::print("\nParameters ({})\n", m.counts_from_checkpoint ? "counted in the checkpoint" : "from config.json");
  for (Component comp : kComponents)
    fmt::print("  {:<22}{:>16}\n", model::component_name(comp), grouped(m.parameters[comp]));
  if (m.parameters.other) fmt::print("  {:<22}{:>16}\n", "other (unexpected)", grouped(m.parameters.other));
  fmt::print("  {:<22}{:>16}\n", "total", grouped(m.parameters.total()));
  fmt::print("  {:<22}{:>16}\n\n", "text per token", grouped(m.text_parameters_per_token));

  if (m.weights == WeightsState::kNone) {
    fmt::print("Weights        none found: no model.safetensors.index.json or model.safetensors in {}\n", m.dir);
    fmt::print("               (the architecture needs {} tensors)\n", m.schema.size());
    return;
  }
  if (m.contents) {
    std::vector<std::string> dtypes;
    for (const auto& [dt, n] : m.contents->tensors_by_dtype) dtypes.push_back(fmt::format("{} ({})", model::dtype_name(dt), n));
    fmt::print("Weights        {} tensors in {} file{}, {}; dtypes: {}\n", m.contents->tensor_count,
               m.contents->shard_count, m.contents->shard_count == 1 ? "" : "s", human_bytes(m.contents->tensor_bytes),
               fmt::join(dtypes, ", "));
  }
  const auto [in_out, out_in] = orientation_counts(m);
  if (in_out + out_in > 0)
    fmt::print("Expert layout  {} tensors in_out (published [E, H, 2I] / [E, I, H]), "
               "{} out_in (transformers 5 [E, 2I, H] / [E, H, I])\n",
               in_out, out_in);
  fmt::print("Validation     {}{}\n",
             m.validation.ok() ? m.validation.summary() : "FAILED: " + m.validation.summary() + " (listed on stderr)",
             m.validation.ok() && m.values_scanned ? "; every value is finite" : "");
}

int run_info(const InfoOptions& opts) {
  auto inspected = model::inspect_model_folder(opts.dir, opts.check);
  if (!inspected) return report(inspected.error());
  const ModelInspection& m = *inspected;

  int code = kExitOk;
  if (!m.validation.ok()) {
    code = m.internal_failure ? kExitFailure : kExitBadInput;
  } else if (m.weights == WeightsState::kNone) {
    code = kExitNoWeights;
  }
  if (opts.json) {
    print_json(inspection_json(m, code));
  } else {
    print_text(m);
  }
  for (const auto& p : m.validation.problems) std::cerr << "quantlens-cli: " << p << "\n";
  if (!m.validation.ok()) std::cerr << "quantlens-cli: error: " << m.validation.summary() << "\n";
  return code;
}

}  // namespace

void add_info_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand("info", "Summarise and validate a model folder (config.json + safetensors)");
  cmd->add_option("dir", opts->dir, "Model folder holding config.json and the safetensors weights")->required();
  cmd->add_flag("--json", opts->json, "Print the summary as one JSON object");
  cmd->add_flag("--check", opts->check,
                "Also read every weight value and report tensors holding NaN or infinity (reads the whole "
                "checkpoint; loading checks the same as it reads)");
  cmd->footer(
      "Exit codes:\n"
      "  0  config.json and the weights are valid and match\n"
      "  1  an I/O failure (e.g. a shard could not be mapped)\n"
      "  2  config.json is missing or invalid, or the weights are unreadable or do not match it;\n"
      "     every problem is listed on stderr, one line each\n"
      "  3  config.json is valid but the folder holds no weights: the summary comes from config.json");
  cmd->callback([opts, &exit_code] { exit_code = run_info(*opts); });
}

}  // namespace ql::cli
