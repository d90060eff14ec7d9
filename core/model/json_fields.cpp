#include "core/model/json_fields.h"

#include <limits>

namespace ql::model {

using nlohmann::json;

std::string describe_json_type(const json& v) {
  if (v.is_number_float()) return fmt::format("number {}", v.dump());
  if (v.is_number_integer()) return fmt::format("integer {}", v.dump());
  return v.type_name();
}

std::string quote(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string brief(const json& v, size_t max_chars) {
  std::string s = v.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);  // ASCII: safe to cut
  if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
  return s;
}

bool json_to_int64(const json& v, int64_t& out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<int64_t>();
    return true;
  }
  return false;
}

JsonFields::JsonFields(const json& obj, std::string file, std::string prefix)
    : obj_(&obj), file_(std::move(file)), prefix_(std::move(prefix)) {}

Result<json> JsonFields::parse_object(std::string_view text, const std::string& file) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {  // nlohmann's message is one line with the byte position
    return err("{}: not valid JSON: {}", file, e.what());
  }
  if (!j.is_object()) return err("{}: expected a JSON object at the top, got {}", file, j.type_name());
  return j;
}

std::string JsonFields::path(std::string_view key) const {
  return prefix_.empty() ? std::string(key) : fmt::format("{}.{}", prefix_, key);
}

const json* JsonFields::find(std::string_view key) const {
  auto it = obj_->find(key);
  if (it == obj_->end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonFields::has(std::string_view key) const { return find(key) != nullptr; }

Error JsonFields::missing(std::string_view key) const {
  return err("{}: {}: missing", file_, path(key));
}

Error JsonFields::wrong_type(std::string_view key, std::string_view expected, const json& got) const {
  return err("{}: {}: expected {}, got {}", file_, path(key), expected, describe_json_type(got));
}

Error JsonFields::invalid(std::string_view key, std::string_view message) const {
  return err("{}: {}: {}", file_, path(key), message);
}

Result<int64_t> JsonFields::integer(std::string_view key) const {
  const json* v = find(key);
  if (!v) return missing(key);
  int64_t out = 0;
  if (v->is_number_unsigned() && !json_to_int64(*v, out))
    return invalid(key, fmt::format("{} is too large", v->dump()));
  if (!json_to_int64(*v, out)) return wrong_type(key, "an integer", *v);
  return out;
}

Result<int64_t> JsonFields::integer_or(std::string_view key, int64_t fallback) const {
  return has(key) ? integer(key) : Result<int64_t>(fallback);
}

Result<double> JsonFields::number(std::string_view key) const {
  const json* v = find(key);
  if (!v) return missing(key);
  if (!v->is_number()) return wrong_type(key, "a number", *v);
  return v->get<double>();
}

Result<double> JsonFields::number_or(std::string_view key, double fallback) const {
  return has(key) ? number(key) : Result<double>(fallback);
}

Result<bool> JsonFields::boolean_or(std::string_view key, bool fallback) const {
  const json* v = find(key);
  if (!v) return fallback;
  if (!v->is_boolean()) return wrong_type(key, "true or false", *v);
  return v->get<bool>();
}

Result<std::string> JsonFields::string(std::string_view key) const {
  const json* v = find(key);
  if (!v) return missing(key);
  if (!v->is_string()) return wrong_type(key, "a string", *v);
  return v->get<std::string>();
}

Result<std::string> JsonFields::string_or(std::string_view key, std::string fallback) const {
  return has(key) ? string(key) : Result<std::string>(std::move(fallback));
}

Result<std::vector<int64_t>> JsonFields::int_list(std::string_view key) const {
  const json* v = find(key);
  if (!v) return missing(key);
  if (!v->is_array()) return wrong_type(key, "a list of integers", *v);
  std::vector<int64_t> out;
  for (size_t i = 0; i < v->size(); ++i) {
    int64_t x = 0;
    if (!json_to_int64((*v)[i], x))
      return err("{}: {}[{}]: expected an integer, got {}", file_, path(key), i,
                 describe_json_type((*v)[i]));
    out.push_back(x);
  }
  return out;
}

Result<std::vector<int64_t>> JsonFields::int_list_or(std::string_view key,
                                                     std::vector<int64_t> fallback) const {
  return has(key) ? int_list(key) : Result<std::vector<int64_t>>(std::move(fallback));
}

Result<JsonFields> JsonFields::object(std::string_view key) const {
  const json* v = find(key);
  if (!v) return missing(key);
  if (!v->is_object()) return wrong_type(key, "an object", *v);
  return JsonFields(*v, file_, path(key));
}

}  // namespace ql::model
