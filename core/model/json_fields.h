#pragma once
// Typed access to the fields of one JSON object. Every error is one line naming
// the file and the field path, e.g.
//   DIR/config.json: text_config.hidden_size: expected an integer, got string
// A JSON null counts as absent: the *_or getters return their default for it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/result.h"

namespace ql::model {

class JsonFields {
 public:
  // `obj` must outlive this view. `prefix` is the field path of `obj` ("" at the top).
  JsonFields(const nlohmann::json& obj, std::string file, std::string prefix);

  // Parses `text` and requires a JSON object at the top; errors name `file`.
  static Result<nlohmann::json> parse_object(std::string_view text, const std::string& file);

  bool has(std::string_view key) const;
  std::string path(std::string_view key) const;  // "text_config.hidden_size"
  const std::string& file() const { return file_; }

  Result<int64_t> integer(std::string_view key) const;
  Result<int64_t> integer_or(std::string_view key, int64_t fallback) const;
  Result<double> number(std::string_view key) const;
  Result<double> number_or(std::string_view key, double fallback) const;
  Result<bool> boolean_or(std::string_view key, bool fallback) const;
  Result<std::string> string(std::string_view key) const;
  Result<std::string> string_or(std::string_view key, std::string fallback) const;
  Result<std::vector<int64_t>> int_list(std::string_view key) const;
  Result<std::vector<int64_t>> int_list_or(std::string_view key, std::vector<int64_t> fallback) const;
  Result<JsonFields> object(std::string_view key) const;

  // "FILE: PATH: MESSAGE" for a value that has the right type but is unacceptable.
  Error invalid(std::string_view key, std::string_view message) const;

 private:
  const nlohmann::json* find(std::string_view key) const;
  Error missing(std::string_view key) const;
  Error wrong_type(std::string_view key, std::string_view expected, const nlohmann::json& got) const;

  const nlohmann::json* obj_;
  std::string file_;
  std::string prefix_;
};

// The JSON type of `v` as an error message says it: "string", "boolean", "number 2.5", ...
std::string describe_json_type(const nlohmann::json& v);

// `s` in double quotes with JSON escapes, so a name with control characters or
// invalid UTF-8 still prints on one line.
std::string quote(std::string_view s);

// A JSON value for a message, cut to about `max_chars`.
std::string brief(const nlohmann::json& v, size_t max_chars = 60);

// Reads an integer JSON value, refusing floats and values beyond int64.
bool json_to_int64(const nlohmann::json& v, int64_t& out);

}  // namespace ql::model
