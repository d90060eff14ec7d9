#include "core/engine/prompt_builder.h"

#include "core/engine/context_limit.h"
#include "core/engine/image_fingerprint.h"
#include "core/engine/image_loading.h"

namespace ql::engine {
namespace {

const char* role_name(Role r) {
  switch (r) {
    case Role::kSystem: return "system";
    case Role::kUser: return "user";
    case Role::kAssistant: return "assistant";
  }
  return "?";
}

Status load_images(std::span<const ImageInput* const> inputs, const PromptContext& ctx, PreparedPrompt& out) {
  static const ImageDecoder kNoDecoder;
  const ImageDecoder& decoder = ctx.decoder ? *ctx.decoder : kNoDecoder;
  for (const ImageInput* in : inputs) {
    auto image = load_image(*in, decoder, *ctx.preprocess);
    if (!image) return image.error();
    out.image_keys.push_back(image_fingerprint(*image));
    out.image_labels.push_back(in->path);
    out.images.push_back(std::move(image).value());
  }
  return {};
}

std::vector<int64_t> token_counts(const PreparedPrompt& p) {
  std::vector<int64_t> counts;
  for (const auto& im : p.images) counts.push_back(im.num_image_tokens());
  return counts;
}

Status check_vocabulary(std::span<const int32_t> ids, int64_t vocab_size) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return err("token id {} at position {} is outside the model's vocabulary of {} ids", ids[i], i, vocab_size);
    }
  }
  return {};
}

Result<PreparedPrompt> prepare_conversation(const Conversation& c, const PromptContext& ctx) {
  if (!ctx.tokenizer) return err("a chat prompt needs a tokenizer: {}", ctx.no_tokenizer_reason);
  if (c.messages.empty()) return err("the conversation has no messages");
  std::vector<const ImageInput*> inputs;
  auto chat = to_chat_messages(c.messages, inputs);
  if (!chat) return chat.error();
  PreparedPrompt p;
  QL_TRY(load_images(inputs, ctx, p));
  const auto counts = token_counts(p);
  auto ids = conversation_ids(*chat, *ctx.tokenizer, counts, ImageTokenIds::from(*ctx.config));
  if (!ids) return ids.error();
  p.ids = std::move(ids).value();
  return p;
}

Result<PreparedPrompt> prepare_tokens(const TokenPrompt& tp, const PromptContext& ctx) {
  if (tp.ids.empty()) return err("the prompt has no token ids");
  QL_TRY(check_vocabulary(tp.ids, ctx.config->text.vocab_size));
  std::vector<const ImageInput*> inputs;
  for (const auto& im : tp.images) inputs.push_back(&im);
  PreparedPrompt p;
  QL_TRY(load_images(inputs, ctx, p));
  QL_TRY(check_image_pads(tp.ids, token_counts(p), p.image_labels, ImageTokenIds::from(*ctx.config)));
  p.ids = tp.ids;
  return p;
}

}  // namespace

int64_t PreparedPrompt::image_tokens() const {
  int64_t n = 0;
  for (const auto& im : images) n += im.num_image_tokens();
  return n;
}

Result<std::vector<text::ChatMessage>> to_chat_messages(std::span<const Message> messages,
                                                        std::vector<const ImageInput*>& images) {
  std::vector<text::ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    text::ChatMessage cm;
    cm.role = role_name(m.role);
    for (const MessagePart& part : m.parts) {
      if (const auto* s = std::get_if<std::string>(&part)) {
        cm.parts.push_back(text::ContentPart::make_text(*s));
        continue;
      }
      const auto& image = std::get<ImageInput>(part);
      if (m.role != Role::kUser) {
        return err("message {} ({}): {}: images can only be attached to user messages", i, cm.role, image.path);
      }
      cm.parts.push_back(text::ContentPart::image());
      images.push_back(&image);
    }
    out.push_back(std::move(cm));
  }
  return out;
}

Result<std::vector<int32_t>> conversation_ids(std::span<const text::ChatMessage> messages,
                                              const text::Tokenizer& tokenizer,
                                              std::span<const int64_t> image_token_counts, const ImageTokenIds& t) {
  auto rendered = text::render_chat(messages);
  if (!rendered) return rendered.error();
  const std::vector<int32_t> ids = tokenizer.encode(*rendered);
  return expand_image_pads(ids, image_token_counts, t);
}

Result<PreparedPrompt> prepare_prompt(const Prompt& prompt, const PromptContext& ctx) {
  auto p = std::holds_alternative<Conversation>(prompt) ? prepare_conversation(std::get<Conversation>(prompt), ctx)
                                                        : prepare_tokens(std::get<TokenPrompt>(prompt), ctx);
  if (!p) return p.error();
  QL_TRY(check_prompt_fits(static_cast<int64_t>(p->ids.size()), p->image_tokens(), ctx.context_tokens));
  return p;
}

}  // namespace ql::engine
