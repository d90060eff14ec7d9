#pragma once
// The Qwen3-VL Instruct chat template, rendered directly in C++ (no Jinja
// engine): byte-identical to transformers' apply_chat_template with the
// published template for system / user (text and images) / assistant turns.
// tests/parity/test_chat_template_parity.cpp holds it to the reference renders.
#include <span>
#include <string>
#include <vector>

#include "core/common/result.h"

namespace ql::text {

struct ContentPart {
  enum class Kind { kText, kImage };
  Kind kind = Kind::kText;
  std::string text;  // kText only

  static ContentPart make_text(std::string t) { return {Kind::kText, std::move(t)}; }
  static ContentPart image() { return {Kind::kImage, {}}; }
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::vector<ContentPart> parts;
};

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  bool add_vision_id = false;  // prefix each image with "Picture N: "
};

// The image placeholder one image part renders to; expand_image_pads widens it.
inline constexpr const char* kImagePlaceholder = "<|vision_start|><|image_pad|><|vision_end|>";

// Errors name the message index and the unsupported role.
Result<std::string> render_chat(std::span<const ChatMessage> messages,
                                const ChatTemplateOptions& options = {});

}  // namespace ql::text
