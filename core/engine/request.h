#pragma once
// What a caller asks the engine for (docs/architecture.md §4): a
// prompt (a conversation, or token ids already expanded), sampling settings
// and when to stop. The CLI and the GUI both build these.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/common/result.h"
#include "core/vision/image.h"

namespace ql::engine {

// Reads an image file into pixels. Core cannot decode files (no Qt), so the
// app injects one: the CLI and the GUI pass ql::imageio::decode_image_file.
using ImageDecoder = std::function<Result<vision::ImageRGB8>(const std::string& path)>;

// An image in a request: a file the engine decodes with its ImageDecoder, or
// pixels already decoded (e.g. pasted). `path` names the image in messages.
struct ImageInput {
  std::string path;
  std::optional<vision::ImageRGB8> pixels;

  static ImageInput file(std::string path) { return {std::move(path), std::nullopt}; }
  static ImageInput decoded(vision::ImageRGB8 pixels, std::string label) {
    return {std::move(label), std::move(pixels)};
  }
};

// One piece of a message, in order: text or an image.
using MessagePart = std::variant<std::string, ImageInput>;

enum class Role { kSystem, kUser, kAssistant };

struct Message {
  Role role = Role::kUser;
  std::vector<MessagePart> parts;

  static Message system(std::string text) { return {Role::kSystem, {std::move(text)}}; }
  static Message assistant(std::string text) { return {Role::kAssistant, {std::move(text)}}; }
  // Every image first, in order, then the text: how the CLI and the compose
  // box build a turn.
  static Message user(std::string text, std::vector<ImageInput> images = {}) {
    Message m{Role::kUser, {}};
    for (auto& im : images) m.parts.emplace_back(std::move(im));
    if (!text.empty()) m.parts.emplace_back(std::move(text));
    return m;
  }
};

// Rendered with the model's chat template, the generation prompt appended.
struct Conversation {
  std::vector<Message> messages;
};

// Token ids that already carry, for each image in order, vision_start +
// image_pad x (that image's token count) + vision_end, with the ids of the
// model's config.json. No tokenizer is needed.
struct TokenPrompt {
  std::vector<int32_t> ids;
  std::vector<ImageInput> images;
};

using Prompt = std::variant<Conversation, TokenPrompt>;

// Unset fields take the model's generation_config.json values (docs/model.md §1.6);
// min_p and presence_penalty are not in that file and default to off.
struct SamplingOptions {
  std::optional<double> temperature;  // 0 = greedy (argmax)
  std::optional<int64_t> top_k;       // 0 = off
  std::optional<double> top_p;        // 1 = off
  std::optional<double> min_p;        // 0 = off
  std::optional<double> repetition_penalty;  // 1 = off
  std::optional<double> presence_penalty;    // 0 = off
  std::optional<uint64_t> seed;       // unset: a fresh random seed (reported back)
};

// Prompt rows whose logits to return: every row, or a list where a negative
// row counts from the end (-1 = the last prompt token).
struct LogitRows {
  bool all = false;
  std::vector<int64_t> rows;
  bool empty() const { return !all && rows.empty(); }
};

struct GenerationRequest {
  Prompt prompt;
  SamplingOptions sampling;
  int64_t max_new_tokens = 512;  // 0: run the prompt only (e.g. for its logits)
  bool ignore_eos = false;       // keep going past EOS ids (parity tests)
  LogitRows logit_rows;          // asking for any turns KV-cache reuse off for this request
  // How far the prompt's forward has come (0..1), called on the engine
  // thread between vision blocks and decoder layers; Metrics carries the
  // same figure for pollers (the app's status line).
  std::function<void(double fraction)> on_prefill_progress;
};

}  // namespace ql::engine
