#pragma once
// A request's prompt -> what the model runs (docs/architecture.md §4,
// steps 2-3): images decoded and preprocessed; for a conversation, the chat
// template rendered, tokenized with the model's tokenizer, and the k-th
// image placeholder widened to that image's token count (docs/model.md §5); for
// token ids, their image runs checked against the images. Last, the length is
// checked against the context, before any model work.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/engine/image_pads.h"
#include "core/engine/request.h"
#include "core/model/model_config.h"
#include "core/text/chat_template.h"
#include "core/text/tokenizer.h"
#include "core/vision/preprocess_config.h"
#include "core/vision/preprocessed_image.h"

namespace ql::engine {

struct PreparedPrompt {
  std::vector<int32_t> ids;                       // image pads expanded
  std::vector<vision::PreprocessedImage> images;  // in prompt order
  std::vector<std::string> image_labels;          // their paths, for messages
  std::vector<uint64_t> image_keys;               // image_fingerprint of each
  int64_t image_tokens() const;
};

// What prompt building needs from the loaded model.
struct PromptContext {
  const model::ModelConfig* config = nullptr;
  const vision::PreprocessConfig* preprocess = nullptr;
  const text::Tokenizer* tokenizer = nullptr;  // null: only token prompts work
  std::string no_tokenizer_reason;             // said when a conversation needs one
  const ImageDecoder* decoder = nullptr;
  int64_t context_tokens = 0;
};

// The template's form of the messages (each image a placeholder part) and,
// in `images`, the images in the order their placeholders appear. Images
// are only allowed in user turns (the template drops them elsewhere).
Result<std::vector<text::ChatMessage>> to_chat_messages(std::span<const Message> messages,
                                                        std::vector<const ImageInput*>& images);

// Chat template (generation prompt on) -> tokenizer -> pad expansion.
Result<std::vector<int32_t>> conversation_ids(std::span<const text::ChatMessage> messages,
                                              const text::Tokenizer& tokenizer,
                                              std::span<const int64_t> image_token_counts, const ImageTokenIds& t);

Result<PreparedPrompt> prepare_prompt(const Prompt& prompt, const PromptContext& ctx);

}  // namespace ql::engine
