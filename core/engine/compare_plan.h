#pragma once
// Which precisions a comparison loads, in which order, and which one is the
// reference every other is measured against.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/result.h"

namespace ql::engine {

struct ComparePrecision {
  std::string name;        // canonical form (quant::precision_string), passed to the loader
  bool reference = false;  // the row the others are measured against
  bool added = false;      // a bf16 reference added because the list had no 16-bit entry
};

// A list as the CLI takes it (--precisions bf16,int8,nf4). A policy has
// commas of its own ("nf4,lm_head=bf16"), so a key=format item belongs to the
// entry before it; a list holding ';' is split on ';' only
// ("bf16;experts=nf4,attention=int8"). Spaces around entries are dropped.
std::vector<std::string> split_precision_list(std::string_view text);

// The reference is the first entry whose every component is 16-bit (bf16 or
// fp16); with none, bf16 is added. It runs first (the others need its
// continuation), the rest follow in the list's order; repeats are kept (bf16,bf16
// measures the engine against itself). Errors name the entry: not a
// precision, or "auto" (which resolves per machine, so it measures nothing
// fixed); and an empty list.
Result<std::vector<ComparePrecision>> plan_compare_precisions(std::span<const std::string> precisions);

}  // namespace ql::engine
