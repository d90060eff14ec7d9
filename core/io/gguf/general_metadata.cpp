#include "core/io/gguf/general_metadata.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace ql::io::gguf {
namespace {

// Python's f"{value:.{digits}f}" (glibc printf rounds exactly, as Python does).
std::string fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

std::string rounded_notation(int64_t n) {
  double scaled;
  const char* suffix;
  const double x = static_cast<double>(n);
  if (x > 1e12) scaled = x * 1e-12, suffix = "T";
  else if (x > 1e9) scaled = x * 1e-9, suffix = "B";
  else if (x > 1e6) scaled = x * 1e-6, suffix = "M";
  else scaled = x * 1e-3, suffix = "K";
  // Two significant digits at least: "1.2M", "30B", "124K".
  std::string whole = std::to_string(static_cast<int64_t>(std::nearbyint(scaled)));
  whole.erase(0, whole.find_first_not_of('0') == std::string::npos ? whole.size() : whole.find_first_not_of('0'));
  const int digits = std::max(2 - static_cast<int>(whole.size()), 0);
  return fixed(scaled, digits) + suffix;
}

void set_if_empty(std::string& field, const std::string& value) {
  if (field.empty()) field = value;
}

}  // namespace

ParameterCounts count_parameters(const std::vector<CountedTensor>& tensors) {
  ParameterCounts c;
  int64_t expert_sum = 0, n_expert_tensors = 0;
  for (const CountedTensor& t : tensors) {
    int64_t size = 1;
    for (int64_t n : t.ne) size *= n;
    if (t.name.find("_exps.") != std::string::npos && t.ne.size() >= 3) {
      // gguf-py reads the expert count from the reversed shape: ne[2] for weights, ne[1] for biases.
      const int64_t experts = t.name.find(".bias") != std::string::npos ? t.ne[1] : t.ne[2];
      c.expert += size / experts;
      expert_sum += experts;
      ++n_expert_tensors;
    } else {
      c.shared += size;
    }
    c.total += size;
  }
  c.expert_count = n_expert_tensors > 0 ? expert_sum / n_expert_tensors : 0;
  return c;
}

std::string size_label(const ParameterCounts& c) {
  if (c.expert_count > 0) return fmt::format("{}x{}", c.expert_count, rounded_notation(c.shared + c.expert));
  return rounded_notation(c.total);
}

std::vector<GgufKv> general_metadata(const std::string& folder_name, const nlohmann::json& config,
                                     const nlohmann::json* generation_config, const ParameterCounts& counts) {
  std::vector<GgufKv> kvs;
  // Sampling defaults, under llama.cpp's own key names; HF configs use only
  // some of them (top_k, top_p, temperature, min_p).
  if (generation_config && generation_config->is_object()) {
    struct Sampling {
      const char* json_key;
      const char* gguf_key;
      char kind;  // 's' string, 'i' int32, 'f' float32
    };
    static constexpr Sampling kSampling[] = {
        {"sequence", "general.sampling.sequence", 's'},
        {"top_k", "general.sampling.top_k", 'i'},
        {"top_p", "general.sampling.top_p", 'f'},
        {"min_p", "general.sampling.min_p", 'f'},
        {"xtc_probability", "general.sampling.xtc_probability", 'f'},
        {"xtc_threshold", "general.sampling.xtc_threshold", 'f'},
        {"temperature", "general.sampling.temp", 'f'},
        {"penalty_last_n", "general.sampling.penalty_last_n", 'i'},
        {"penalty_repeat", "general.sampling.penalty_repeat", 'f'},
        {"mirostat", "general.sampling.mirostat", 'i'},
        {"mirostat_tau", "general.sampling.mirostat_tau", 'f'},
        {"mirostat_eta", "general.sampling.mirostat_eta", 'f'},
    };
    for (const Sampling& s : kSampling) {
      const auto it = generation_config->find(s.json_key);
      if (it == generation_config->end() || it->is_null()) continue;
      if (s.kind == 's' && it->is_string() && !it->get<std::string>().empty())
        kvs.push_back({s.gguf_key, GgufValue::string(it->get<std::string>())});
      else if (s.kind == 'i' && it->is_number())
        kvs.push_back({s.gguf_key, GgufValue::i32(static_cast<int32_t>(it->get<double>()))});
      else if (s.kind == 'f' && it->is_number())
        kvs.push_back({s.gguf_key, GgufValue::f32(static_cast<float>(it->get<double>()))});
    }
  }

  ModelIdParts meta;
  auto absorb = [&meta](const ModelIdParts& p) {
    if (meta.name.empty() && !p.name.empty()) meta.name = id_to_title(p.name);
    if (meta.organization.empty() && !p.organization.empty()) meta.organization = id_to_title(p.organization);
    set_if_empty(meta.basename, p.basename);
    set_if_empty(meta.finetune, p.finetune);
    set_if_empty(meta.version, p.version);
    set_if_empty(meta.size_label, p.size_label);
  };
  // config.json's _name_or_path, when it is a model id rather than a local path.
  if (const auto it = config.find("_name_or_path"); it != config.end() && it->is_string()) {
    const std::string id = it->get<std::string>();
    if (std::count(id.begin(), id.end(), '/') <= 1) absorb(model_id_parts(id, counts.total));
  }
  absorb(model_id_parts(folder_name, counts.total));
  if (meta.name.empty()) meta.name = folder_name;
  if (meta.size_label.empty() && counts.total > 0) meta.size_label = size_label(counts);

  auto add = [&kvs](const char* key, const std::string& value) {
    if (!value.empty()) kvs.push_back({key, GgufValue::string(value)});
  };
  add("general.name", meta.name);
  add("general.version", meta.version);
  add("general.organization", meta.organization);
  add("general.finetune", meta.finetune);
  add("general.basename", meta.basename);
  add("general.size_label", meta.size_label);
  return kvs;
}

}  // namespace ql::io::gguf
