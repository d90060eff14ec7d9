#include "core/server/api_error.h"

namespace ql::server {

nlohmann::json ApiError::to_json() const {
  auto null_if_empty = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
  return {{"error", {{"message", message}, {"type", type}, {"param", null_if_empty(param)}, {"code", null_if_empty(code)}}}};
}

ApiError invalid_field(std::string param, std::string message, std::string code) {
  ApiError e;
  e.param = std::move(param);
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

}  // namespace ql::server
