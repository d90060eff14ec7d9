#include "core/text/pre_tokenizer.h"

#include "spdlog/spdlog.h"

namespace ql::text {

Result<PreTokenizer> PreTokenizer::from_json(const JsonField& field) {
  PreTokenizer p;
  if (field.json().is_null()) {
    return field.error("expected a ByteLevel pre-tokenizer, got null");
  }
  auto type_field = field.at("type");
  if (!type_field) return type_field.error();
  auto type = type_field->as_string();
  if (!type) return type.error();
  if (*type == "Sequence") {
    auto list = field.at("pretokenizers");
    if (!list) return list.error();
    if (!list->json().is_array()) return list->error("expected an array, got {}", list->type_name());
    const size_t n = list->json().size();
    for (size_t i = 0; i < n; ++i) QL_TRY(p.add_step(list->element(i)));
  } else {
    QL_TRY(p.add_step(field));
  }
  if (!p.has_byte_level_) {
    return field.error("no ByteLevel step: only byte-level BPE tokenizers are supported");
  }
  return p;
}

Status PreTokenizer::add_step(const JsonField& field) {
  auto type_field = field.at("type");
  if (!type_field) return type_field.error();
  auto type = type_field->as_string();
  if (!type) return type.error();
  if (has_byte_level_) {
    return field.error("a {} step after ByteLevel is not supported", quote_for_message(*type));
  }
  if (*type == "Split") return add_split(field);
  if (*type == "ByteLevel") {
    auto prefix = field.bool_or("add_prefix_space", false);
    if (!prefix) return prefix.error();
    if (*prefix) return field.error("add_prefix_space true is not supported");
    // Hugging Face's default for a missing use_regex is true.
    auto use_regex = field.bool_or("use_regex", true);
    if (!use_regex) return use_regex.error();
    if (*use_regex) {
      auto gpt2 = SplitRegex::compile(kGpt2Pattern, false, field.label() + ": " + field.path());
      if (!gpt2) return gpt2.error();
      splits_.push_back(std::move(*gpt2));
    }
    has_byte_level_ = true;
    return {};
  }
  return type_field->error("unsupported pre-tokenizer {} (supported: Split, ByteLevel, Sequence)",
                           quote_for_message(*type));
}

Status PreTokenizer::add_split(const JsonField& field) {
  auto behavior_field = field.at("behavior");
  if (!behavior_field) return behavior_field.error();
  auto behavior = behavior_field->as_string();
  if (!behavior) return behavior.error();
  if (*behavior != "Isolated") {
    return behavior_field->error("unsupported split behavior {} (supported: Isolated)",
                                 quote_for_message(*behavior));
  }
  auto invert = field.bool_or("invert", false);
  if (!invert) return invert.error();
  if (*invert) return field.error("invert true is not supported");

  auto pattern_field = field.at("pattern");
  if (!pattern_field) return pattern_field.error();
  std::optional<JsonField> regex = pattern_field->find("Regex");
  std::optional<JsonField> literal = pattern_field->find("String");
  if (regex.has_value() == literal.has_value()) {
    return pattern_field->error("expected an object with exactly one of \"Regex\" or \"String\"");
  }
  const JsonField& chosen = regex ? *regex : *literal;
  auto text = chosen.as_string();
  if (!text) return text.error();
  auto compiled = SplitRegex::compile(*text, literal.has_value(), chosen.label() + ": " + chosen.path());
  if (!compiled) return compiled.error();
  splits_.push_back(std::move(*compiled));
  return {};
}

void PreTokenizer::split(std::string_view text, std::vector<Span>& out) const {
  if (text.empty()) return;
  split_from(text, 0, 0, out);
}

void PreTokenizer::split_from(std::string_view text, size_t offset, size_t step,
                              std::vector<Span>& out) const {
  if (step == splits_.size()) {
    out.emplace_back(offset, offset + text.size());
    return;
  }
  std::vector<Span> matches;
  if (!splits_[step].find_all(text, matches)) {
    // PCRE2 hit a resource limit: keep what it found and let the rest be one
    // pre-token, so encoding degrades (longer BPE words) instead of failing.
    spdlog::warn("tokenizer: pre-tokenizer pattern gave up on a {}-byte text", text.size());
  }
  size_t previous_end = 0;
  auto emit = [&](size_t begin, size_t end) {
    if (end > begin) split_from(text.substr(begin, end - begin), offset + begin, step + 1, out);
  };
  for (const Span& m : matches) {
    emit(previous_end, m.first);  // the gap before the match
    emit(m.first, m.second);
    previous_end = m.second;
  }
  emit(previous_end, text.size());
}

}  // namespace ql::text
