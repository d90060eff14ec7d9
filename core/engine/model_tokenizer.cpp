#include "core/engine/model_tokenizer.h"

#include <utility>

namespace ql::engine {
namespace {

// Why `tok` cannot be this model's tokenizer, or "" when it fits.
std::string mismatch(const text::Tokenizer& tok, const model::ModelConfig& c) {
  if (static_cast<int64_t>(tok.vocab_size()) > c.text.vocab_size) {
    return fmt::format("{} has {} tokens, more than the model's vocabulary of {}", tok.source(), tok.vocab_size(),
                       c.text.vocab_size);
  }
  const std::pair<const char*, int64_t> specials[] = {{"<|image_pad|>", c.image_token_id},
                                                      {"<|vision_start|>", c.vision_start_token_id},
                                                      {"<|vision_end|>", c.vision_end_token_id}};
  for (const auto& [token, id] : specials) {
    const auto found = tok.token_to_id(token);
    if (!found || *found != id) {
      return fmt::format("{} gives {} the id {}, but {} says {}", tok.source(), token,
                         found ? std::to_string(*found) : std::string("(none)"), c.source, id);
    }
  }
  return {};
}

}  // namespace

TokenizerChoice choose_tokenizer(const Result<std::string>& tokenizer_path, const model::ModelConfig& config) {
  TokenizerChoice choice;
  if (!tokenizer_path) {
    choice.note = tokenizer_path.message();
    return choice;
  }
  auto tok = text::Tokenizer::load(*tokenizer_path);
  if (!tok) {
    choice.note = tok.message();
    return choice;
  }
  choice.note = mismatch(*tok, config);
  if (!choice.note.empty()) return choice;
  choice.note = *tokenizer_path;
  choice.tokenizer = std::move(tok).value();
  return choice;
}

}  // namespace ql::engine
