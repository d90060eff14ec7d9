#pragma once
// Model ids as gguf-py's metadata heuristics read them (metadata.py):
// "Qwen/Qwen3-VL-30B-A3B-Instruct" -> organization "Qwen", basename
// "Qwen3-VL", size label "30B-A3B", finetune "Instruct"; and the title-cased
// display name "Qwen3 VL 30B A3B Instruct". The converter applies them to
// config.json's _name_or_path and to the model folder's name.
#include <cstdint>
#include <string>

namespace ql::io::gguf {

struct ModelIdParts {
  std::string name;  // the full name component ("Qwen3-VL-30B-A3B-Instruct")
  std::string organization, basename, finetune, version, size_label;  // "" when absent
};
// `total_params` decides whether a size-like part is the model's size or,
// being far from it, a finetune tag such as a context length.
ModelIdParts model_id_parts(const std::string& model_id, int64_t total_params);
// "demo-model" -> "Demo Model" (gguf-py id_to_title).
std::string id_to_title(const std::string& id);

}  // namespace ql::io::gguf
