#include "core/common/result.h"
#include "core/model/generation_config.h"

#include <filesystem>

#include "core/common/mapped_file.h"
#include "core/common/small_file.h"
#include "core/model/json_fields.h"

namespace ql::model {

GenerationConfig published_generation_defaults() {
  GenerationConfig g;
  g.source = "built-in defaults (published Qwen3-VL-30B-A3B-Instruct generation_config.json)";
  g.eos_token_ids = {151645, 151643};
  g.bos_token_id = 151643;
  g.pad_token_id = 151643;
  g.do_sample = true;
  g.temperature = 0.7;
  g.top_p = 0.8;
  g.top_k = 20;
  g.repetition_penalty = 1.0;
  return g;
}

namespace {

Result<std::optional<int64_t>> optional_token_id(const JsonFields& f, std::string_view key) {
  if (!f.has(key)) return std::optional<int64_t>{};
  QL_ASSIGN_OR_RETURN(int64_t id, f.integer(key));
  if (id < 0) return f.invalid(key, fmt::format("negative token id {}", id));
  return std::optional<int64_t>(id);
}

// eos_token_id is a single int or a list of ints.
Result<std::vector<int64_t>> eos_ids(const JsonFields& f, const nlohmann::json& root) {
  if (!f.has("eos_token_id")) return std::vector<int64_t>{};
  std::vector<int64_t> ids;
  if (root.at("eos_token_id").is_array()) {
    QL_ASSIGN_OR_RETURN(ids, f.int_list("eos_token_id"));
  } else {
    QL_ASSIGN_OR_RETURN(int64_t id, f.integer("eos_token_id"));
    ids.push_back(id);
  }
  for (int64_t id : ids)
    if (id < 0) return f.invalid("eos_token_id", fmt::format("negative token id {}", id));
  return ids;
}

}  // namespace

Result<GenerationConfig> parse_generation_config(std::string_view json_text, const std::string& file) {
  QL_ASSIGN_OR_RETURN(nlohmann::json root, JsonFields::parse_object(json_text, file));
  const JsonFields f(root, file, "");
  GenerationConfig g;
  g.source = file;
  g.from_file = true;
  QL_ASSIGN_OR_RETURN(g.eos_token_ids, eos_ids(f, root));
  QL_ASSIGN_OR_RETURN(g.bos_token_id, optional_token_id(f, "bos_token_id"));
  QL_ASSIGN_OR_RETURN(g.pad_token_id, optional_token_id(f, "pad_token_id"));
  QL_ASSIGN_OR_RETURN(g.do_sample, f.boolean_or("do_sample", g.do_sample));
  QL_ASSIGN_OR_RETURN(g.temperature, f.number_or("temperature", g.temperature));
  if (!(g.temperature >= 0))
    return f.invalid("temperature", fmt::format("must be >= 0, got {}", g.temperature));
  QL_ASSIGN_OR_RETURN(g.top_p, f.number_or("top_p", g.top_p));
  if (!(g.top_p > 0 && g.top_p <= 1))
    return f.invalid("top_p", fmt::format("must be in (0, 1], got {}", g.top_p));
  QL_ASSIGN_OR_RETURN(g.top_k, f.integer_or("top_k", g.top_k));
  if (g.top_k < 0) return f.invalid("top_k", fmt::format("must be >= 0, got {}", g.top_k));
  QL_ASSIGN_OR_RETURN(g.repetition_penalty, f.number_or("repetition_penalty", g.repetition_penalty));
  if (!(g.repetition_penalty > 0))
    return f.invalid("repetition_penalty", fmt::format("must be positive, got {}", g.repetition_penalty));
  return g;
}

Result<GenerationConfig> load_generation_config(const std::string& dir) {
  const std::string path = dir + "/generation_config.json";
  // Absent (not even a dangling or looping link): the published defaults.
  if (!something_at(path)) return published_generation_defaults();
  QL_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_generation_config(text, path);
}

}  // namespace ql::model
