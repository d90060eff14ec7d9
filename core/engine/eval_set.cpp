#include "core/engine/eval_set.h"

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/common/mapped_file.h"
#include "core/engine/compare_prompts.h"

namespace ql::engine {
namespace {

Result<EvalItem> parse_expected(const nlohmann::json& item, const std::string& where) {
  EvalItem e;
  e.type = "other";
  if (item.contains("type")) {
    if (!item["type"].is_string() || item["type"].get<std::string>().empty())
      return err("{}: \"type\" must be a non-empty string", where);
    e.type = item["type"].get<std::string>();
  }
  const bool has_answer = item.contains("answer"), has_box = item.contains("box");
  if (has_answer == has_box) return err("{}: give exactly one of \"answer\" (text) and \"box\" ([x1, y1, x2, y2])", where);
  if (has_answer) {
    if (!item["answer"].is_string()) return err("{}: \"answer\" must be a string", where);
    e.answer = item["answer"].get<std::string>();
    return e;
  }
  const auto& b = item["box"];
  if (!b.is_array() || b.size() != 4) return err("{}: \"box\" must be a list of 4 numbers", where);
  std::array<double, 4> box{};
  for (size_t i = 0; i < 4; ++i) {
    if (!b[i].is_number()) return err("{}: \"box\" must be a list of 4 numbers", where);
    box[i] = b[i].get<double>();
    if (!(box[i] >= 0 && box[i] <= 1000)) return err("{}: \"box\" value {} is outside 0-1000", where, b[i].dump());
  }
  if (box[0] > box[2] || box[1] > box[3]) return err("{}: \"box\" corners are the wrong way round", where);
  e.box = box;
  return e;
}

}  // namespace

Result<EvalSet> parse_eval_set(std::string_view json_text, std::string_view label, const std::string& base_dir) {
  const auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return err("{}: not valid JSON", label);
  if (!j.is_array() || j.empty()) return err("{}: expected a non-empty JSON array of questions", label);
  EvalSet set;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string where = fmt::format("{}: item {}", label, i + 1);
    if (!j[i].is_object()) return err("{}: expected an object with \"text\" and \"answer\" or \"box\"", where);
    QL_ASSIGN_OR_RETURN(EvalItem e, parse_expected(j[i], where));
    set.items.push_back(std::move(e));
    // The rest of the item is a compare prompt.
    nlohmann::json prompt = j[i];
    for (const char* key : {"type", "answer", "box"}) prompt.erase(key);
    QL_ASSIGN_OR_RETURN(ComparePrompt p, parse_compare_prompt(prompt, where, base_dir));
    set.prompts.push_back(std::move(p));
  }
  return set;
}

Result<EvalSet> load_eval_set(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return text.error();
  return parse_eval_set(*text, path, std::filesystem::path(path).parent_path().string());
}

}  // namespace ql::engine
