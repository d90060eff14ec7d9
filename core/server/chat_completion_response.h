#pragma once
// The JSON the server answers /v1/chat/completions with, in OpenAI's shapes
// (docs/server.md): one "chat.completion" object, or for stream: true a
// sequence of "chat.completion.chunk" objects as server-sent events ending
// with "data: [DONE]".
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/engine/generation_result.h"

namespace ql::server {

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // of the prompt, taken from the KV cache
};

struct CompletionIds {
  std::string id;     // "chatcmpl-..."
  std::string model;  // as the server names the loaded model
  int64_t created = 0;  // Unix seconds
};

// "stop" (end of sequence, a stop sequence, or stopped), "length" (max
// tokens or a full context).
const char* finish_reason(engine::StopReason reason, bool stop_sequence_hit);

nlohmann::json usage_json(const Usage& usage);

// The whole answer (stream: false).
nlohmann::json completion_json(const CompletionIds& ids, const std::string& text, const std::string& finish,
                               const Usage& usage);

// One chunk: the role in the first, text in the middle ones, the finish
// reason in the last; with include_usage, a final chunk with no choices
// and the usage.
nlohmann::json chunk_json(const CompletionIds& ids, const std::optional<std::string>& role,
                          const std::optional<std::string>& content, const std::optional<std::string>& finish);
nlohmann::json usage_chunk_json(const CompletionIds& ids, const Usage& usage);

// "data: {json}\n\n"
std::string sse_event(const nlohmann::json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

}  // namespace ql::server
