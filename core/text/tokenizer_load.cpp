// Tokenizer::load / from_json: tokenizer.json -> Tokenizer::Impl, refusing
// (with the file and field named) anything that is not a byte-level BPE.

#include <algorithm>

#include "core/common/mapped_file.h"
#include "core/text/byte_level.h"
#include "core/text/tokenizer_impl.h"
#include "core/text/tokenizer_json_reader.h"

namespace ql::text {

namespace {

// A component that only accepts one type (or null where allowed).
Status expect_type(const JsonField& root, std::string_view key, std::string_view wanted, bool null_ok) {
  auto field = root.find(key);
  if (!field) {
    if (null_ok) return {};
    return err("{}: {}: expected a {} {}, got null or nothing", root.label(), key, wanted, key);
  }
  auto type_field = field->at("type");
  if (!type_field) return type_field.error();
  auto type = type_field->as_string();
  if (!type) return type.error();
  if (*type != wanted) {
    return type_field->error("unsupported {} {} (supported: {})", key, quote_for_message(*type), wanted);
  }
  return {};
}

Result<std::shared_ptr<Tokenizer::Impl>> build(const TokenizerJson& file, const std::string& label) {
  const nlohmann::json& doc = file.doc;
  if (!doc.is_object()) {
    return err("{}: expected a JSON object at the top level, got {}", label,
               JsonField(doc, label, "").type_name());
  }
  const JsonField root(doc, label, "");
  if (auto version = root.find("version")) {
    auto v = version->as_string();
    if (!v) return v.error();
    if (*v != "1.0") return version->error("unknown tokenizer.json version {}", quote_for_message(*v));
  }
  auto impl = std::make_shared<Tokenizer::Impl>();
  impl->label = label;

  auto model_field = root.at("model");
  if (!model_field) return model_field.error();
  auto model = BpeModel::from_json(*model_field, file.vocab, file.merges);
  if (!model) return model.error();
  impl->model = std::move(*model);

  auto normalizer_field = root.find("normalizer");
  static const nlohmann::json kNull;
  auto normalizer = Normalizer::from_json(normalizer_field ? *normalizer_field
                                                           : JsonField(kNull, label, "normalizer"));
  if (!normalizer) return normalizer.error();
  impl->normalizer = std::move(*normalizer);

  auto pre_field = root.find("pre_tokenizer");
  auto pre = PreTokenizer::from_json(pre_field ? *pre_field : JsonField(kNull, label, "pre_tokenizer"));
  if (!pre) return pre.error();
  impl->pre_tokenizer = std::move(*pre);

  auto added = AddedVocabulary::from_json(root.find("added_tokens"), impl->normalizer);
  if (!added) return added.error();
  impl->added = std::move(*added);

  // The ByteLevel post-processor only adjusts offsets; anything else
  // (e.g. TemplateProcessing adding a BOS) would change the ids.
  QL_TRY(expect_type(root, "post_processor", "ByteLevel", true));
  QL_TRY(expect_type(root, "decoder", "ByteLevel", false));

  QL_TRY(impl->build_id_tables());
  return impl;
}

}  // namespace

Status Tokenizer::Impl::build_id_tables() {
  int32_t limit = model.id_limit();
  for (const AddedToken& t : added.tokens()) limit = std::max(limit, t.id + 1);
  kinds.assign(limit, IdKind::kNone);
  added_index.assign(limit, -1);
  for (int32_t id = 0; id < model.id_limit(); ++id) {
    if (!model.id_to_token(id).empty()) kinds[id] = IdKind::kModel;
  }
  const auto& tokens = added.tokens();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const AddedToken& t = tokens[i];
    const std::string path = fmt::format("added_tokens[{}]", i);
    // Hugging Face gives an added token that is also a vocabulary string the
    // vocabulary's id; a file that says otherwise is inconsistent.
    if (auto model_id = model.token_to_id(t.content); model_id && *model_id != t.id) {
      return err("{}: {}.id: {} is {} but model.vocab gives it id {}", label, path,
                 quote_for_message(t.content), t.id, *model_id);
    }
    if (kinds[t.id] == IdKind::kModel && model.id_to_token(t.id) != t.content) {
      return err("{}: {}.id: id {} ({}) is already model.vocab's token {}", label, path, t.id,
                 quote_for_message(t.content), quote_for_message(model.id_to_token(t.id)));
    }
    kinds[t.id] = t.special ? IdKind::kAddedSpecial : IdKind::kAdded;
    added_index[t.id] = static_cast<int32_t>(i);
    added_ids.emplace(t.content, t.id);
  }
  decoded_offsets.assign(static_cast<size_t>(limit) + 1, 0);
  for (int32_t id = 0; id < limit; ++id) {
    if (added_index[id] >= 0) {
      // The decoder sees a normalized added token in its normalized form.
      const AddedToken& t = tokens[added_index[id]];
      const std::string shown = t.normalized ? normalizer.apply(t.content) : t.content;
      decoded += byte_level_decode_token(shown);
    } else if (kinds[id] == IdKind::kModel) {
      decoded += byte_level_decode_token(model.id_to_token(id));
    }
    if (decoded.size() > UINT32_MAX) return err("{}: token strings total more than 4 GiB", label);
    decoded_offsets[id + 1] = static_cast<uint32_t>(decoded.size());
  }
  return {};
}

Result<Tokenizer> Tokenizer::from_json(std::string_view json, std::string label) {
  try {
    auto file = read_tokenizer_json(json, label);
    if (!file) return file.error();
    auto impl = build(*file, label);
    if (!impl) return impl.error();
    return Tokenizer(std::move(*impl));
  } catch (const std::bad_alloc&) {
    return internal_err("{}: out of memory while loading the tokenizer", label);
  } catch (const std::exception& e) {
    // Not expected (fields are type-checked before use); kept so that no
    // exception ever leaves the core API.
    return err("{}: {}", label, one_line(e.what()));
  }
}

Result<Tokenizer> Tokenizer::load(const std::string& path) {
  auto file = MappedFile::open(path);  // also refuses a folder, naming it
  if (!file) return file.error();
  const std::string_view text(reinterpret_cast<const char*>(file->data()), file->size());
  return from_json(text, path);
}

}  // namespace ql::text
