#pragma once
// A comparison as JSON (quantlens-cli compare --json; the GUI may save it):
// {"reference", "sequential", "tokens", "prompts": [{"label", "prompt_tokens",
// "positions"}], "precisions": [{"name", "loaded_precision", "reference",
// "added", "weights_bytes", "load_ms", "kl_mean", "kl_p99", "top1_agreement",
// "positions", "decode_tok_s", "ttft_ms", "answers": [text per prompt],
// "answer_ids": [[ids] per prompt], "kl_per_position": [[nats] per prompt],
// "forced_top1_ids": [[ids] per prompt]}]}, the reference row first.
#include <nlohmann/json.hpp>

#include "core/engine/compare_report.h"

namespace ql::engine {

nlohmann::json compare_report_json(const CompareReport& report);

}  // namespace ql::engine
