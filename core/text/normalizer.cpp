#include "core/text/normalizer.h"

#include <cstdlib>

#include <utf8proc.h>

namespace ql::text {

namespace {

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

utf8proc_option_t options_for(NormalForm form) {
  switch (form) {
    case NormalForm::kNFC: return static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    case NormalForm::kNFD: return static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
    case NormalForm::kNFKC:
      return static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    case NormalForm::kNFKD:
      return static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  }
  return UTF8PROC_STABLE;
}

std::string normalize_one(std::string_view text, NormalForm form) {
  // Every normal form leaves ASCII unchanged; skip the library call for it.
  if (is_ascii(text)) return std::string(text);
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out, options_for(form));
  // utf8proc fails only on invalid UTF-8 (our callers pass valid text) or
  // when out of memory; leaving the text as it is is the safe fallback.
  if (n < 0) return std::string(text);
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

}  // namespace

Result<Normalizer> Normalizer::from_json(const JsonField& field) {
  Normalizer n;
  if (field.json().is_null()) return n;
  QL_TRY(n.add_from_json(field));
  return n;
}

Status Normalizer::add_from_json(const JsonField& field) {
  auto type_field = field.at("type");
  if (!type_field) return type_field.error();
  auto type = type_field->as_string();
  if (!type) return type.error();
  if (*type == "NFC") steps_.push_back(NormalForm::kNFC);
  else if (*type == "NFD") steps_.push_back(NormalForm::kNFD);
  else if (*type == "NFKC") steps_.push_back(NormalForm::kNFKC);
  else if (*type == "NFKD") steps_.push_back(NormalForm::kNFKD);
  else if (*type == "Sequence") {
    auto list = field.at("normalizers");
    if (!list) return list.error();
    if (!list->json().is_array()) return list->error("expected an array, got {}", list->type_name());
    for (size_t i = 0; i < list->json().size(); ++i) QL_TRY(add_from_json(list->element(i)));
  } else {
    return type_field->error("unsupported normalizer {} (supported: NFC, NFD, NFKC, NFKD, Sequence)",
                             quote_for_message(*type));
  }
  return {};
}

std::string Normalizer::apply(std::string_view text) const {
  if (steps_.empty()) return std::string(text);
  std::string current = normalize_one(text, steps_[0]);
  for (size_t i = 1; i < steps_.size(); ++i) current = normalize_one(current, steps_[i]);
  return current;
}

}  // namespace ql::text
