#include "ui/chat/chat_request.h"

#include "ui/imageio/image_decode.h"

namespace ql::ui {
namespace {

engine::ImageInput image_input(const ChatImage& image) {
  // Pixels win over the saved PNG copy: the same pixels as the turn before,
  // so the engine keeps that image's part of the KV cache.
  if (!image.pixels.isNull()) return engine::ImageInput::decoded(imageio::to_rgb8(image.pixels), image.label.toStdString());
  return engine::ImageInput::file(image.source_path.toStdString());
}

}  // namespace

engine::GenerationRequest chat_request(const QList<ChatMessage>& messages, const QString& system_prompt,
                                       const engine::SamplingOptions& sampling, int max_new_tokens) {
  engine::Conversation conversation;
  if (!system_prompt.trimmed().isEmpty()) {
    conversation.messages.push_back(engine::Message::system(system_prompt.toStdString()));
  }
  for (const ChatMessage& m : messages) {
    if (m.role == ChatRole::kAssistant) {
      conversation.messages.push_back(engine::Message::assistant(m.text.toStdString()));
      continue;
    }
    std::vector<engine::ImageInput> images;
    for (const ChatImage& image : m.images) images.push_back(image_input(image));
    conversation.messages.push_back(engine::Message::user(m.text.toStdString(), std::move(images)));
  }
  engine::GenerationRequest request;
  request.prompt = std::move(conversation);
  request.sampling = sampling;
  request.max_new_tokens = max_new_tokens;
  return request;
}

}  // namespace ql::ui
