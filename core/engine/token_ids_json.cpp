#include "core/engine/token_ids_json.h"

#include <limits>
#include <string>

#include <nlohmann/json.hpp>

namespace ql::engine {

Result<std::vector<int32_t>> parse_token_ids_json(std::string_view json_text, std::string_view label) {
  const nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return err("{}: not valid JSON (expected an array of token ids)", label);
  if (!j.is_array()) return err("{}: expected a JSON array of token ids, found a JSON {}", label, j.type_name());
  if (j.empty()) return err("{}: the array of token ids is empty", label);
  std::vector<int32_t> ids;
  ids.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& v = j[i];
    const std::string shown = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
        return err("{}: element {} ({}) is too large for a token id", label, i, shown);
      }
      ids.push_back(static_cast<int32_t>(u));
    } else if (v.is_number_integer()) {
      return err("{}: element {} ({}) is negative; token ids are >= 0", label, i, shown);
    } else {
      return err("{}: element {} ({}) is not an integer token id", label, i, shown);
    }
  }
  return ids;
}

}  // namespace ql::engine
