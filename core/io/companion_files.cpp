#include "core/io/companion_files.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "core/common/mapped_file.h"
#include "core/common/small_file.h"
#include "core/engine/model_tokenizer.h"
#include "core/io/atomic_file.h"
#include "core/model/json_fields.h"
#include "core/model/model_config.h"
#include "core/text/tokenizer_location.h"

namespace ql::io {
namespace {

namespace fs = std::filesystem;

constexpr const char* kConfigName = "config.json";
constexpr const char* kTokenizerName = "tokenizer.json";

// Where each companion comes from: the source folder, or (tokenizer.json
// only) the tokenizer QuantLens itself would use for this folder.
struct CompanionSource {
  std::string name;
  std::string from;  // path to copy; empty: absent
  bool expected = false;
  bool from_source_folder = false;
  std::string why_absent;  // tokenizer.json: why no other tokenizer stands in
};

// The tokenizer QuantLens uses for a folder without tokenizer.json, only if
// it fits the model (engine/model_tokenizer.h): a tiny checkpoint with its
// own small vocabulary must not gain the Qwen tokenizer in its export.
std::string fallback_tokenizer_uncached(const std::string& model_dir, std::string* why_none) {
  auto config = model::load_model_config(model_dir);
  if (!config) {
    *why_none = config.message();
    return {};
  }
  const Result<std::string> located = text::locate_tokenizer(model_dir);
  engine::TokenizerChoice choice = engine::choose_tokenizer(located, *config);
  if (!choice.tokenizer) {
    *why_none = choice.note;
    return {};
  }
  return *located;
}

// Deciding whether the fallback fits builds the whole tokenizer (~0.4 s), and
// every export asks twice (estimate, then write), the export dialog once per
// change of choice: the answer is kept per folder while config.json and the
// tokenizer files are unchanged.
std::string fallback_tokenizer(const std::string& model_dir, std::string* why_none) {
  auto stamp = [](const std::string& path) {
    std::error_code ec;
    const auto t = fs::last_write_time(path, ec);
    return ec ? std::string("-") : std::to_string(t.time_since_epoch().count());
  };
  const Result<std::string> located = text::locate_tokenizer(model_dir);
  const std::string key = model_dir + "\n" + stamp((fs::path(model_dir) / "config.json").string()) + "\n" +
                          (located ? *located + "\n" + stamp(*located) : located.message());
  struct Answer {
    std::string path, why_none;
  };
  static std::mutex mutex;
  static std::map<std::string, Answer> answers;
  {
    std::lock_guard lock(mutex);
    if (auto it = answers.find(key); it != answers.end()) {
      *why_none = it->second.why_none;
      return it->second.path;
    }
  }
  Answer a;
  a.path = fallback_tokenizer_uncached(model_dir, &a.why_none);
  *why_none = a.why_none;
  std::lock_guard lock(mutex);
  answers[key] = a;
  return a.path;
}

std::vector<CompanionSource> find_companions(const std::string& model_dir) {
  std::vector<CompanionSource> out;
  for (const auto& f : companion_file_list()) {
    CompanionSource s{f.name, {}, f.expected, false, {}};
    const fs::path in_folder = fs::path(model_dir) / f.name;
    // Something there (small_file.h): copying it refuses a folder, FIFO or
    // device by name instead of leaving the companion out silently.
    if (something_at(in_folder.string())) {
      s.from = in_folder.string();
      s.from_source_folder = true;
    } else if (s.name == kTokenizerName) {
      s.from = fallback_tokenizer(model_dir, &s.why_absent);
    }
    out.push_back(std::move(s));
  }
  return out;
}

void set_if_present(nlohmann::json& obj, const char* key, const std::string& value) {
  if (obj.is_object() && obj.contains(key)) obj[key] = value;
}

}  // namespace

const std::vector<CompanionFile>& companion_file_list() {
  static const std::vector<CompanionFile> files = {
      {"generation_config.json", true},
      {"preprocessor_config.json", true},
      {"video_preprocessor_config.json", false},
      {"tokenizer.json", true},
      {"tokenizer_config.json", false},
      {"special_tokens_map.json", false},
      {"added_tokens.json", false},
      {"vocab.json", false},
      {"merges.txt", false},
      {"chat_template.json", false},
      {"chat_template.jinja", false},
      {"LICENSE", false},  // Apache-2.0 asks that the licence travel with the weights
  };
  return files;
}

Result<nlohmann::json> read_source_config(const std::string& model_dir) {
  const std::string path = (fs::path(model_dir) / kConfigName).string();
  QL_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return model::JsonFields::parse_object(text, path);
}

void set_config_dtype(nlohmann::json& config, const std::string& torch_dtype) {
  if (!config.is_object()) return;
  set_if_present(config, "dtype", torch_dtype);
  set_if_present(config, "torch_dtype", torch_dtype);
  for (const char* sub : {"text_config", "vision_config"}) {
    if (!config.contains(sub)) continue;
    set_if_present(config[sub], "dtype", torch_dtype);
    set_if_present(config[sub], "torch_dtype", torch_dtype);
  }
  if (config.contains("text_config") && config["text_config"].is_object())
    config["text_config"]["dtype"] = torch_dtype;
  else
    config["dtype"] = torch_dtype;
}

std::string config_json_text(const nlohmann::json& config) {
  // transformers: json.dumps(indent=2, sort_keys=True) + "\n"; ensure_ascii as Python's default.
  return config.dump(2, ' ', true, nlohmann::json::error_handler_t::replace) + "\n";
}

Status write_companion_files(const std::string& model_dir, const std::string& out_dir, const nlohmann::json& config,
                             ExportResult& result) {
  for (const auto& c : find_companions(model_dir)) {
    if (c.from.empty()) {
      if (c.expected)
        result.notes.push_back(
            fmt::format("{} not written: the source folder has none{}", c.name,
                        c.why_absent.empty() ? "" : " (and QuantLens uses none for it: " + c.why_absent + ")"));
      continue;
    }
    const std::string dest = (fs::path(out_dir) / c.name).string();
    QL_ASSIGN_OR_RETURN(std::string bytes, read_text_file(c.from));
    QL_TRY(write_file_atomically(dest, bytes));
    result.files.push_back({dest, bytes.size()});
    if (!c.from_source_folder)
      result.notes.push_back(
          fmt::format("{} copied from {} (the source folder has none; it is the tokenizer "
                      "QuantLens uses for this model)",
                      c.name, c.from));
  }
  const std::string text = config_json_text(config);
  const std::string dest = (fs::path(out_dir) / kConfigName).string();
  QL_TRY(write_file_atomically(dest, text));
  result.files.push_back({dest, text.size()});
  return {};
}

Result<uint64_t> companion_files_bytes(const std::string& model_dir, const nlohmann::json& config) {
  uint64_t total = config_json_text(config).size();
  for (const auto& c : find_companions(model_dir)) {
    if (c.from.empty()) continue;
    std::error_code ec;
    const auto size = fs::file_size(c.from, ec);
    if (ec) return err("{}: cannot read its size: {}", c.from, ec.message());
    total += size;
  }
  return total;
}

}  // namespace ql::io
