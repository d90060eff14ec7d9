#pragma once
// The tokenizer of a model folder (core/text/tokenizer_location.h: the
// folder's tokenizer.json, else $QUANTLENS_TOKENIZER, else the installed
// default), used only if it fits the model: every id it makes must have an
// embedding row and its image tokens must be the config's ids. A tiny test
// checkpoint with its own small vocabulary gets none, so its ids are never
// "decoded" with the wrong vocabulary.
#include <optional>
#include <string>

#include "core/model/model_config.h"
#include "core/text/tokenizer.h"

namespace ql::engine {

struct TokenizerChoice {
  std::optional<text::Tokenizer> tokenizer;
  std::string note;  // the path used, or why there is no tokenizer
};

// `tokenizer_path` as locate_tokenizer found it (or its error).
TokenizerChoice choose_tokenizer(const Result<std::string>& tokenizer_path, const model::ModelConfig& config);

}  // namespace ql::engine
