#pragma once
// Token ids given as a JSON array (--input-ids FILE), e.g. [151644, 872, 198].
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/common/result.h"

namespace ql::engine {

// Errors start with `label` (the file) and name the element at fault: not
// JSON, not an array, empty, an element that is not an integer, negative, or
// too large for a token id.
Result<std::vector<int32_t>> parse_token_ids_json(std::string_view json_text, std::string_view label);

}  // namespace ql::engine
