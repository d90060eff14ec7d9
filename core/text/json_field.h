#pragma once
// A JSON value together with the path that names it in error messages, e.g.
// "tokenizer.json: model.merges[12]: ...". Typed accessors never throw; they
// return a one-line Error naming the file and the field.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/common/result.h"

namespace ql::text {

class JsonField {
 public:
  JsonField(const nlohmann::json& value, const std::string& label, std::string path)
      : value_(&value), label_(&label), path_(std::move(path)) {}

  const nlohmann::json& json() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& label() const { return *label_; }

  // A required member of an object (missing or not an object is an error).
  Result<JsonField> at(std::string_view key) const;
  // An optional member; absent and null both give nullopt.
  std::optional<JsonField> find(std::string_view key) const;
  JsonField element(size_t index) const;  // the caller checked is_array() and the size

  Result<std::string> as_string() const;
  Result<bool> as_bool() const;
  Result<int64_t> as_int() const;
  // An optional boolean member with a default.
  Result<bool> bool_or(std::string_view key, bool fallback) const;

  // "label: path: message" with the message formatted like fmt::format.
  template <typename... Args>
  Error error(fmt::format_string<Args...> f, Args&&... args) const {
    return err("{}: {}: {}", *label_, path_, fmt::format(f, std::forward<Args>(args)...));
  }

  // The JSON type in words, for messages: "a string", "null", ...
  std::string type_name() const;

 private:
  const nlohmann::json* value_;
  const std::string* label_;
  std::string path_;
};

// s with line breaks turned into spaces: error messages are one line.
std::string one_line(std::string s);

// A short printable form of a string for error messages: JSON-quoted (so
// control characters and newlines are escaped) and cut after 60 bytes.
std::string quote_for_message(std::string_view s);

}  // namespace ql::text
