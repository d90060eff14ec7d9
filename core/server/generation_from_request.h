#pragma once
// A parsed chat completion request (chat_completion_request.h) as the
// engine's GenerationRequest: messages in order with their images decoded
// (data URLs here, with the decoder the app gives; allowed files by the
// engine's own decoder when it runs), sampling as asked, and the server's
// default answer length when the request sets none.
#include <cstdint>
#include <functional>
#include <string>
#include <variant>

#include "core/common/result.h"
#include "core/engine/request.h"
#include "core/server/api_error.h"
#include "core/server/chat_completion_request.h"
#include "core/vision/image.h"

namespace ql::server {

// Decodes an encoded image in memory; `label` names it in errors.
using ImageBytesDecoder = std::function<Result<vision::ImageRGB8>(const std::string& bytes, const std::string& label)>;

inline constexpr int64_t kDefaultMaxTokens = 1024;

// An image that does not decode is an error naming its part (HTTP 400).
std::variant<engine::GenerationRequest, ApiError> generation_from_request(
    const ChatCompletionRequest& request, const ImageBytesDecoder& decode, int64_t default_max_tokens = kDefaultMaxTokens);

}  // namespace ql::server
