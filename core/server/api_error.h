#pragma once
// An error as the OpenAI API returns it (docs/server.md): an HTTP status and
// {"error": {"message", "type", "param", "code"}}. Every refusal of the
// server names the field it refuses in `param` and in the message, so a
// client library shows the user what to fix.
#include <string>

#include <nlohmann/json.hpp>

namespace ql::server {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";  // OpenAI's error types
  std::string message;
  std::string param;  // the field at fault ("messages[1].content[0].image_url.url"), or empty
  std::string code;   // a short machine-readable reason, or empty

  nlohmann::json to_json() const;
};

ApiError invalid_field(std::string param, std::string message, std::string code = {});

}  // namespace ql::server
