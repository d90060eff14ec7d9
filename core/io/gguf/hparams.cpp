#include "core/io/gguf/hparams.h"

#include <filesystem>

#include "core/common/mapped_file.h"
#include "core/common/small_file.h"

namespace ql::io::gguf {

Hparams Hparams::text(const nlohmann::json& config) {
  nlohmann::json merged = config.is_object() ? config : nlohmann::json::object();
  if (const auto it = config.find("text_config"); it != config.end() && it->is_object())
    for (const auto& [k, v] : it->items()) merged[k] = v;
  return Hparams(std::move(merged));
}

const nlohmann::json* Hparams::find(std::initializer_list<const char*> keys) const {
  if (!obj_.is_object()) return nullptr;
  for (const char* k : keys) {
    const auto it = obj_.find(k);
    if (it != obj_.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

std::optional<int64_t> Hparams::integer(std::initializer_list<const char*> keys) const {
  const nlohmann::json* v = find(keys);
  if (!v || !v->is_number()) return std::nullopt;
  return v->is_number_float() ? static_cast<int64_t>(v->get<double>()) : v->get<int64_t>();
}

std::optional<double> Hparams::number(std::initializer_list<const char*> keys) const {
  const nlohmann::json* v = find(keys);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

Result<std::optional<nlohmann::json>> read_json_file(const std::string& path) {
  // Absent only when nothing is there: a folder, FIFO or device in the
  // file's place is an error from read_text_file, not a missing file.
  if (!something_at(path)) return std::optional<nlohmann::json>{};
  auto text = read_text_file(path);
  if (!text) return text.error();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return err("{}: not valid JSON", path);
  return std::optional<nlohmann::json>(std::move(j));
}

}  // namespace ql::io::gguf
