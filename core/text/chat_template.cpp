#include "core/text/chat_template.h"

namespace ql::text {
namespace {

// The template renders only the text parts of system and assistant turns.
void append_text_parts(std::string& out, const ChatMessage& m) {
  for (const auto& p : m.parts) {
    if (p.kind == ContentPart::Kind::kText) out += p.text;
  }
}

}  // namespace

Result<std::string> render_chat(std::span<const ChatMessage> messages,
                                const ChatTemplateOptions& options) {
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      return err("chat message {}: unsupported role '{}' (expected system, user or assistant)", i, role);
    }
  }
  std::string out;
  // A leading system turn is rendered first; a system turn anywhere else is
  // dropped, exactly as the published template does.
  if (!messages.empty() && messages[0].role == "system") {
    out += "<|im_start|>system\n";
    append_text_parts(out, messages[0]);
    out += "<|im_end|>\n";
  }
  int image_count = 0;
  for (const auto& m : messages) {
    if (m.role == "user") {
      out += "<|im_start|>user\n";
      for (const auto& p : m.parts) {
        if (p.kind == ContentPart::Kind::kText) {
          out += p.text;
          continue;
        }
        ++image_count;
        if (options.add_vision_id) out += "Picture " + std::to_string(image_count) + ": ";
        out += kImagePlaceholder;
      }
      out += "<|im_end|>\n";
    } else if (m.role == "assistant") {
      out += "<|im_start|>assistant\n";
      append_text_parts(out, m);
      out += "<|im_end|>\n";
    }
  }
  if (options.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace ql::text
