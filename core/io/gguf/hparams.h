#pragma once
// config.json as llama.cpp's converter sees it: the text model reads the root
// merged with text_config ({**root, **text_config}), the projector reads
// vision_config; a key is looked up by the first of several spellings
// (find_hparam). Keys are written only when present, as the converter does.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/result.h"

namespace ql::io::gguf {

class Hparams {
 public:
  explicit Hparams(nlohmann::json obj) : obj_(std::move(obj)) {}
  // root merged with text_config (text_config wins).
  static Hparams text(const nlohmann::json& config);

  const nlohmann::json& json() const { return obj_; }
  // The first key of `keys` present (and not null).
  const nlohmann::json* find(std::initializer_list<const char*> keys) const;
  std::optional<int64_t> integer(std::initializer_list<const char*> keys) const;
  std::optional<double> number(std::initializer_list<const char*> keys) const;

 private:
  nlohmann::json obj_;
};

// Reads and parses a JSON file; nullopt when it does not exist.
Result<std::optional<nlohmann::json>> read_json_file(const std::string& path);

}  // namespace ql::io::gguf
