#pragma once
// generation_config.json: sampling defaults and stop ids (docs/model.md §1.6).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/result.h"

namespace ql::model {

struct GenerationConfig {
  std::string source;                    // the file, or "built-in defaults" when there was none
  bool from_file = false;
  std::vector<int64_t> eos_token_ids;    // stop on any; empty: stop on length only
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;
  bool do_sample = false;
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 50;                    // 0: no top-k filter
  double repetition_penalty = 1.0;       // 1: no-op
};

// The published Qwen3-VL-30B-A3B-Instruct values (§1.6), used when a folder has no
// generation_config.json.
GenerationConfig published_generation_defaults();

// Fields absent from a present file take transformers' GenerationConfig class
// defaults (the member initialisers above), as transformers does.
Result<GenerationConfig> parse_generation_config(std::string_view json_text, const std::string& file);

// DIR/generation_config.json, or published_generation_defaults() when it does not exist.
Result<GenerationConfig> load_generation_config(const std::string& dir);

}  // namespace ql::model
