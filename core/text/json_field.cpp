#include "core/text/json_field.h"

#include <algorithm>

#include "core/text/utf8.h"

namespace ql::text {

namespace {

std::string child_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return fmt::format("{}.{}", parent, key);
}

}  // namespace

std::string JsonField::type_name() const {
  switch (value_->type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    default: return "an unexpected value";
  }
}

Result<JsonField> JsonField::at(std::string_view key) const {
  if (!value_->is_object()) return error("expected an object, got {}", type_name());
  auto it = value_->find(key);
  if (it == value_->end()) {
    return err("{}: {}: missing", *label_, child_path(path_, key));
  }
  return JsonField(*it, *label_, child_path(path_, key));
}

std::optional<JsonField> JsonField::find(std::string_view key) const {
  if (!value_->is_object()) return std::nullopt;
  auto it = value_->find(key);
  if (it == value_->end() || it->is_null()) return std::nullopt;
  return JsonField(*it, *label_, child_path(path_, key));
}

JsonField JsonField::element(size_t index) const {
  return JsonField((*value_)[index], *label_, fmt::format("{}[{}]", path_, index));
}

Result<std::string> JsonField::as_string() const {
  if (!value_->is_string()) return error("expected a string, got {}", type_name());
  return value_->get_ref<const std::string&>();
}

Result<bool> JsonField::as_bool() const {
  if (!value_->is_boolean()) return error("expected true or false, got {}", type_name());
  return value_->get<bool>();
}

Result<int64_t> JsonField::as_int() const {
  if (value_->is_number_unsigned()) {
    const auto u = value_->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return error("integer {} is too large", u);
    return static_cast<int64_t>(u);
  }
  if (value_->is_number_integer()) return value_->get<int64_t>();
  return error("expected an integer, got {}", type_name());
}

Result<bool> JsonField::bool_or(std::string_view key, bool fallback) const {
  auto member = find(key);
  if (!member) return fallback;
  return member->as_bool();
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

std::string quote_for_message(std::string_view s) {
  constexpr size_t kMax = 60;
  const bool cut = s.size() > kMax;
  std::string shown = to_valid_utf8(s.substr(0, cut ? kMax : s.size()));
  std::string quoted = nlohmann::json(shown).dump();
  if (cut) quoted += "...";
  return quoted;
}

}  // namespace ql::text
