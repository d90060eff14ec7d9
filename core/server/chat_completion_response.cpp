#include "core/server/chat_completion_response.h"

namespace ql::server {

using nlohmann::json;

const char* finish_reason(engine::StopReason reason, bool stop_sequence_hit) {
  if (stop_sequence_hit) return "stop";
  switch (reason) {
    case engine::StopReason::kMaxTokens:
    case engine::StopReason::kContextFull:
      return "length";
    case engine::StopReason::kEos:
    case engine::StopReason::kStopped:
      return "stop";
  }
  return "stop";
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

json completion_json(const CompletionIds& ids, const std::string& text, const std::string& finish, const Usage& usage) {
  return {{"id", ids.id},
          {"object", "chat.completion"},
          {"created", ids.created},
          {"model", ids.model},
          {"choices",
           json::array({{{"index", 0},
                         {"message", {{"role", "assistant"}, {"content", text}}},
                         {"logprobs", nullptr},
                         {"finish_reason", finish}}})},
          {"usage", usage_json(usage)}};
}

json chunk_json(const CompletionIds& ids, const std::optional<std::string>& role,
                const std::optional<std::string>& content, const std::optional<std::string>& finish) {
  json delta = json::object();
  if (role) delta["role"] = *role;
  if (content) delta["content"] = *content;
  return {{"id", ids.id},
          {"object", "chat.completion.chunk"},
          {"created", ids.created},
          {"model", ids.model},
          {"choices",
           json::array({{{"index", 0},
                         {"delta", delta},
                         {"logprobs", nullptr},
                         {"finish_reason", finish ? json(*finish) : json(nullptr)}}})}};
}

json usage_chunk_json(const CompletionIds& ids, const Usage& usage) {
  return {{"id", ids.id},       {"object", "chat.completion.chunk"}, {"created", ids.created},
          {"model", ids.model}, {"choices", json::array()},          {"usage", usage_json(usage)}};
}

std::string sse_event(const json& j) {
  // Invalid UTF-8 in a model's text is replaced, never thrown about.
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace ql::server
