#pragma once
// The general.* keys llama.cpp's converter writes before the architecture
// keys (gguf-py metadata.py, docs/formats.md §4.1): the sampling defaults of
// generation_config.json, then the model's name and the parts derived from
// config.json's _name_or_path and the folder name (model_id.h), and a size
// label from the parameter count when none was derived. Not written (they come from a README model card or
// a metadata override file, which we do not read): author, organization from
// a card, description, license, tags, languages, base models, datasets, urls.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/io/gguf/gguf_value.h"
#include "core/io/gguf/model_id.h"

namespace ql::io::gguf {

// gguf-py's parameter count of a file: every tensor's elements, with
// "_exps." tensors counted once per expert for the size label.
struct ParameterCounts {
  int64_t total = 0, shared = 0, expert = 0, expert_count = 0;
};
struct CountedTensor {
  std::string name;
  std::vector<int64_t> ne;
};
ParameterCounts count_parameters(const std::vector<CountedTensor>& tensors);

// "30B", "8x1.2M", "124K" (gguf-py size_label / model_weight_count_rounded_notation).
std::string size_label(const ParameterCounts& counts);

// general.* keys in the converter's order. `folder_name` is the model
// folder's last path component; generation_config may be null.
std::vector<GgufKv> general_metadata(const std::string& folder_name, const nlohmann::json& config,
                                     const nlohmann::json* generation_config, const ParameterCounts& counts);

}  // namespace ql::io::gguf
