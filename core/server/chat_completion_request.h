#pragma once
// POST /v1/chat/completions: the request body as OpenAI's chat API defines
// it, checked field by field into what the engine runs (docs/server.md).
// Parsing needs no model: a bad request is refused before it waits for a
// slot. Images stay encoded here (core decodes no image files); the server
// decodes them with the app's decoder.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/engine/request.h"
#include "core/server/api_error.h"

namespace ql::server {

// An image part: the bytes of a data URL, or a local file the policy allows.
struct ImagePart {
  std::string param;  // where it was ("messages[0].content[1]"), for errors found later (decoding)
  std::string bytes;  // a data URL's decoded bytes; empty for a file
  std::string mime;   // "image/png" (data URLs)
  std::string file;   // an allowed local file (resolved, absolute); empty for a data URL
};

using ContentPart = std::variant<std::string, ImagePart>;

struct ChatMessageIn {
  engine::Role role = engine::Role::kUser;
  std::vector<ContentPart> parts;
};

struct ChatCompletionRequest {
  std::string model;
  std::vector<ChatMessageIn> messages;
  bool stream = false;
  bool include_usage = false;                // stream_options.include_usage
  std::optional<int64_t> max_tokens;         // max_completion_tokens, else max_tokens
  engine::SamplingOptions sampling;
  std::vector<std::string> stop;             // at most 4, none empty
};

struct RequestPolicy {
  // Local files a request may name (file:// URLs or paths), inside this
  // folder only; empty: none.
  std::string allow_files_dir;
  size_t max_images = 16;  // per request
};

// The request, or the error to answer with (HTTP 400, naming the field).
std::variant<ChatCompletionRequest, ApiError> parse_chat_completion(std::string_view body,
                                                                     const RequestPolicy& policy);

}  // namespace ql::server
