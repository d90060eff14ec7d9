#include "core/io/gguf/tokenizer_metadata.h"

#include <filesystem>
#include <map>
#include <optional>

#include "core/common/mapped_file.h"
#include "core/common/small_file.h"
#include "core/io/gguf/hparams.h"

namespace ql::io::gguf {
namespace {

namespace fs = std::filesystem;

// gguf-py's spelling of a space inside a merge part (chr(ord(' ') + 256)).
constexpr const char* kEncodedSpace = "\xC4\xA0";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
  return s;
}

std::string merge_part(std::string_view part) { return replace_all(std::string(part), " ", kEncodedSpace); }

// The special-token kinds SpecialVocab looks for, in its order, and the GGUF
// keys it has handlers for (cls has none: skipped with a warning there).
struct SpecialKind {
  const char* kind;
  const char* id_key;   // nullptr: no handler
  const char* add_key;  // nullptr: no add_<kind>_token handler
};
constexpr SpecialKind kSpecialKinds[] = {
    {"bos", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.add_bos_token"},
    {"eos", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_eos_token"},
    {"unk", "tokenizer.ggml.unknown_token_id", nullptr},
    {"sep", "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.add_sep_token"},
    {"pad", "tokenizer.ggml.padding_token_id", nullptr},
    {"cls", nullptr, nullptr},
    {"mask", "tokenizer.ggml.mask_token_id", nullptr},
};

const SpecialKind* special_kind(const std::string& kind) {
  for (const SpecialKind& k : kSpecialKinds)
    if (kind == k.kind) return &k;
  return nullptr;
}

// The chat template as SpecialVocab finds it: tokenizer_config.json's own,
// else chat_template.jinja, else chat_template.json's "chat_template". A list
// of named templates contributes its "default" entry only.
Result<std::optional<std::string>> chat_template(const nlohmann::json& tokenizer_config, const std::string& dir) {
  auto from_value = [](const nlohmann::json& v) -> std::optional<std::string> {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array())
      for (const auto& entry : v)
        if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
            entry["template"].is_string())
          return entry["template"].get<std::string>();
    return std::nullopt;
  };
  if (const auto it = tokenizer_config.find("chat_template"); it != tokenizer_config.end())
    return from_value(*it);
  const std::string jinja = (fs::path(dir) / "chat_template.jinja").string();
  std::error_code ec;
  if (something_at(jinja)) {  // a folder or FIFO there is an error below, not "no template"
    auto text = read_text_file(jinja);
    if (!text) return text.error();
    return std::optional<std::string>(std::move(*text));
  }
  auto json = read_json_file((fs::path(dir) / "chat_template.json").string());
  if (!json) return json.error();
  if (*json && (*json)->is_object())
    if (const auto it = (*json)->find("chat_template"); it != (*json)->end()) return from_value(*it);
  return std::optional<std::string>{};
}

}  // namespace

bool token_looks_special(const std::string& t) {
  if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
  // Prefix and suffix are tested separately, as Python's startswith/endswith ("<|>" counts).
  auto wrapped = [&t](std::string_view open, std::string_view close) { return t.starts_with(open) && t.ends_with(close); };
  return wrapped("<|", "|>") || wrapped("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") || wrapped("<unused", ">");
}

Result<std::vector<GgufKv>> tokenizer_metadata(const text::Tokenizer& tokenizer, const std::string& model_dir,
                                               const nlohmann::json& config, int64_t vocab_size) {
  if (static_cast<int64_t>(tokenizer.vocab_size()) > vocab_size)
    return err("{}: the tokenizer has {} token ids but config.json's vocab_size is {}; the GGUF vocabulary "
               "cannot hold them (llama.cpp's converter refuses this too)",
               tokenizer.source(), tokenizer.vocab_size(), vocab_size);

  std::map<int32_t, const text::AddedToken*> added;
  for (const text::AddedToken& t : tokenizer.added_tokens()) added[t.id] = &t;

  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  tokens.reserve(static_cast<size_t>(vocab_size));
  types.reserve(static_cast<size_t>(vocab_size));
  for (int64_t i = 0; i < vocab_size; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    std::string token(tokenizer.id_to_token(id));
    GgufTokenType type = GgufTokenType::kNormal;
    if (token.empty()) {  // the embedding has more rows than the tokenizer has tokens
      token = fmt::format("[PAD{}]", i);
      type = GgufTokenType::kUnused;
    } else if (const auto a = added.find(id); a != added.end()) {
      if (a->second->special || token_looks_special(token)) {
        type = GgufTokenType::kControl;
      } else {
        type = GgufTokenType::kUserDefined;
        token = replace_all(token, "\xE2\x96\x81", " ");  // SentencePiece spaces, pre-normalized
      }
    }
    tokens.push_back(std::move(token));
    types.push_back(static_cast<int32_t>(type));
  }

  std::vector<GgufKv> kvs;
  kvs.push_back({"tokenizer.ggml.model", GgufValue::string("gpt2")});
  // The converter names the pre-tokenizer from a hash of the tokenizer's ids
  // on a probe text; the Qwen2/Qwen3 byte-level BPE (the only tokenizer this
  // engine loads) hashes to "qwen2".
  kvs.push_back({"tokenizer.ggml.pre", GgufValue::string("qwen2")});
  kvs.push_back({"tokenizer.ggml.tokens", GgufValue::array_string(std::move(tokens))});
  kvs.push_back({"tokenizer.ggml.token_type", GgufValue::array_i32(types)});

  std::vector<std::string> merges;
  merges.reserve(tokenizer.merge_count());
  for (size_t r = 0; r < tokenizer.merge_count(); ++r) {
    const auto [left, right] = tokenizer.merge(r);
    merges.push_back(merge_part(left) + " " + merge_part(right));
  }
  if (!merges.empty()) kvs.push_back({"tokenizer.ggml.merges", GgufValue::array_string(std::move(merges))});

  auto tokenizer_config = read_json_file((fs::path(model_dir) / "tokenizer_config.json").string());
  if (!tokenizer_config) return tokenizer_config.error();
  const bool have_tc = *tokenizer_config && (*tokenizer_config)->is_object() && !(*tokenizer_config)->empty();

  // Special ids: tokenizer_config.json's "<kind>_token" looked up among the
  // added tokens first, then config.json's "<kind>_token_id"; first wins.
  std::vector<std::pair<std::string, uint32_t>> ids;
  std::vector<std::pair<std::string, bool>> add_flags;
  auto set_id = [&ids](const std::string& kind, int64_t id) {
    for (const auto& [k, v] : ids)
      if (k == kind) return;
    if (id >= 0) ids.emplace_back(kind, static_cast<uint32_t>(id));
  };
  if (have_tc) {
    const nlohmann::json& tc = **tokenizer_config;
    for (const SpecialKind& k : kSpecialKinds) {
      const std::string kind = k.kind;
      if (const auto add = tc.find("add_" + kind + "_token"); add != tc.end() && add->is_boolean())
        add_flags.emplace_back(kind, add->get<bool>());
      const auto entry = tc.find(kind + "_token");
      if (entry == tc.end()) continue;
      std::string content;
      if (entry->is_string()) content = entry->get<std::string>();
      else if (entry->is_object() && entry->contains("content") && (*entry)["content"].is_string())
        content = (*entry)["content"].get<std::string>();
      else continue;
      for (const text::AddedToken& t : tokenizer.added_tokens())
        if (t.content == content) {
          set_id(kind, t.id);
          break;
        }
    }
  }
  for (const SpecialKind& k : kSpecialKinds) {
    const std::string field = std::string(k.kind) + "_token_id";
    const nlohmann::json* v = nullptr;
    if (const auto it = config.find(field); it != config.end() && !it->is_null()) v = &*it;
    else if (const auto tc = config.find("text_config"); tc != config.end() && tc->is_object())
      if (const auto jt = tc->find(field); jt != tc->end()) v = &*jt;
    if (v && v->is_number_integer()) set_id(k.kind, v->get<int64_t>());  // a list (several eos ids) is skipped
  }
  for (const auto& [kind, id] : ids)
    if (const SpecialKind* k = special_kind(kind); k && k->id_key) kvs.push_back({k->id_key, GgufValue::u32(id)});
  for (const auto& [kind, value] : add_flags)
    if (const SpecialKind* k = special_kind(kind); k && k->add_key) kvs.push_back({k->add_key, GgufValue::boolean(value)});

  if (have_tc) {
    auto tmpl = chat_template(**tokenizer_config, model_dir);
    if (!tmpl) return tmpl.error();
    if (*tmpl && !(*tmpl)->empty()) kvs.push_back({"tokenizer.chat_template", GgufValue::string(std::move(**tmpl))});
  }
  return kvs;
}

}  // namespace ql::io::gguf
