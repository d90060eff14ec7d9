#include "core/server/generation_from_request.h"

#include <fmt/format.h>

namespace ql::server {

std::variant<engine::GenerationRequest, ApiError> generation_from_request(const ChatCompletionRequest& request,
                                                                          const ImageBytesDecoder& decode,
                                                                          int64_t default_max_tokens) {
  engine::Conversation conversation;
  for (const ChatMessageIn& in : request.messages) {
    engine::Message m{in.role, {}};
    for (const ContentPart& part : in.parts) {
      if (const auto* text = std::get_if<std::string>(&part)) {
        m.parts.emplace_back(*text);
        continue;
      }
      const ImagePart& image = std::get<ImagePart>(part);
      if (!image.file.empty()) {
        m.parts.emplace_back(engine::ImageInput::file(image.file));
        continue;
      }
      const std::string param = image.param + ".image_url.url";
      if (!decode) return invalid_field(param, fmt::format("{}: this server cannot decode images", param), "invalid_image");
      auto pixels = decode(image.bytes, param);
      if (!pixels) return invalid_field(param, pixels.message(), "invalid_image");
      m.parts.emplace_back(engine::ImageInput::decoded(std::move(pixels).value(), param));
    }
    conversation.messages.push_back(std::move(m));
  }
  engine::GenerationRequest g;
  g.prompt = std::move(conversation);
  g.sampling = request.sampling;
  g.max_new_tokens = request.max_tokens.value_or(default_max_tokens);
  return g;
}

}  // namespace ql::server
