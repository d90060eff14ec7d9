#include "core/engine/compare_prompts.h"

#include "core/common/mapped_file.h"

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/engine/token_ids_json.h"

namespace ql::engine {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 3> kBuiltinImages = {"shapes.png", "bar_chart.png", "stop_sign.png"};

std::string with_images(std::string label, const std::vector<ImageInput>& images) {
  for (const auto& im : images) label += " [" + fs::path(im.path).filename().string() + "]";
  return label;
}

ComparePrompt text_prompt(std::string text, std::vector<ImageInput> images = {}, std::string system = {}) {
  ComparePrompt p;
  p.label = with_images(text, images);
  Conversation c;
  if (!system.empty()) c.messages.push_back(Message::system(std::move(system)));
  c.messages.push_back(Message::user(std::move(text), std::move(images)));
  p.prompt = std::move(c);
  return p;
}

Result<std::vector<ImageInput>> parse_images(const nlohmann::json& item, const std::string& where,
                                             const std::string& base_dir) {
  std::vector<ImageInput> images;
  if (!item.contains("images")) return images;
  const auto& list = item["images"];
  if (!list.is_array()) return err("{}: \"images\" must be an array of paths", where);
  for (size_t k = 0; k < list.size(); ++k) {
    if (!list[k].is_string() || list[k].get<std::string>().empty()) {
      return err("{}: image {} must be a non-empty path", where, k + 1);
    }
    fs::path path = list[k].get<std::string>();
    if (path.is_relative() && !base_dir.empty()) path = fs::path(base_dir) / path;
    images.push_back(ImageInput::file(path.string()));
  }
  return images;
}

}  // namespace

Result<ComparePrompt> parse_compare_prompt(const nlohmann::json& item, const std::string& where,
                                           const std::string& base_dir) {
  if (!item.is_object()) return err("{}: expected an object with \"text\" or \"input_ids\"", where);
  for (auto it = item.begin(); it != item.end(); ++it) {
    const std::string& key = it.key();
    if (key != "text" && key != "input_ids" && key != "images" && key != "system") {
      return err("{}: unknown key \"{}\" (expected text, input_ids, images, system)", where, key);
    }
  }
  const bool has_text = item.contains("text"), has_ids = item.contains("input_ids");
  if (has_text == has_ids) return err("{}: give exactly one of \"text\" or \"input_ids\"", where);
  auto images = parse_images(item, where, base_dir);
  if (!images) return images.error();
  if (has_ids) {
    if (item.contains("system")) return err("{}: \"system\" applies to \"text\" only", where);
    auto ids = parse_token_ids_json(item["input_ids"].dump(), where + " input_ids");
    if (!ids) return ids.error();
    ComparePrompt p;
    p.label = with_images(fmt::format("token ids ({})", ids->size()), *images);
    p.prompt = TokenPrompt{std::move(ids).value(), std::move(images).value()};
    return p;
  }
  if (!item["text"].is_string() || item["text"].get<std::string>().empty()) {
    return err("{}: \"text\" must be a non-empty string", where);
  }
  std::string system;
  if (item.contains("system")) {
    if (!item["system"].is_string()) return err("{}: \"system\" must be a string", where);
    system = item["system"].get<std::string>();
  }
  return text_prompt(item["text"].get<std::string>(), std::move(images).value(), std::move(system));
}

std::span<const std::string_view> builtin_compare_images() { return kBuiltinImages; }

std::vector<ComparePrompt> builtin_compare_prompts(const std::string& images_dir) {
  auto image = [&](std::string_view name) {
    return std::vector<ImageInput>{ImageInput::file((fs::path(images_dir) / name).string())};
  };
  std::vector<ComparePrompt> set;
  set.push_back(text_prompt("Explain in two sentences why the sky is blue."));
  set.push_back(text_prompt("What shapes are in this picture, and what color is each?", image(kBuiltinImages[0])));
  set.push_back(text_prompt("Which bar in this chart is the tallest, and about what value does it show?",
                            image(kBuiltinImages[1])));
  set.push_back(text_prompt("What does this sign tell a driver to do?", image(kBuiltinImages[2]),
                            "You are a careful driving instructor. Answer in one sentence."));
  set.push_back(text_prompt("Write a Python function that returns the n-th Fibonacci number."));
  return set;
}

Result<std::vector<ComparePrompt>> parse_compare_prompts(std::string_view json_text, std::string_view label,
                                                         const std::string& base_dir) {
  const auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return err("{}: not valid JSON", label);
  if (!j.is_array()) return err("{}: expected a JSON array of prompts", label);
  if (j.empty()) return err("{}: the prompt list is empty", label);
  std::vector<ComparePrompt> prompts;
  for (size_t i = 0; i < j.size(); ++i) {
    auto p = parse_compare_prompt(j[i], fmt::format("{}: prompt {}", label, i + 1), base_dir);
    if (!p) return p.error();
    prompts.push_back(std::move(p).value());
  }
  return prompts;
}

Result<std::vector<ComparePrompt>> load_compare_prompts(const std::string& path) {
  QL_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_compare_prompts(text, path, fs::path(path).parent_path().string());
}

}  // namespace ql::engine
