#pragma once
// Which prompt rows' logits a request returns (--logits-rows): "all", or a
// comma list of positions where negative ones count from the end.
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/common/result.h"
#include "core/engine/request.h"

namespace ql::engine {

// "all" or e.g. "0,5,-1". Errors quote the item that is not an integer.
Result<LogitRows> parse_logit_rows(std::string_view text);

// Absolute rows, sorted and without duplicates. A row outside the prompt is
// an error naming the row and the prompt length.
Result<std::vector<int64_t>> resolve_logit_rows(const LogitRows& rows, int64_t prompt_tokens);

}  // namespace ql::engine
