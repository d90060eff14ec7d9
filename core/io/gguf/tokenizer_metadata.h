#pragma once
// The tokenizer.* keys of the text GGUF, as the converter writes them for a
// GPT-2-style byte-level BPE (TextModel._set_vocab_gpt2 + gguf-py
// SpecialVocab; docs/formats.md §4.1): model "gpt2", pre "qwen2", every id below
// vocab_size as its byte-level string ("[PAD<id>]" for ids without a token),
// token types, merges "left right", special ids (tokenizer_config.json first,
// then config.json), add_bos/add_eos flags and the chat template.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/result.h"
#include "core/io/gguf/gguf_value.h"
#include "core/text/tokenizer.h"

namespace ql::io::gguf {

// llama.cpp's token types (gguf-py TokenType).
enum class GgufTokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5 };

// The converter's test for added tokens that ought to be control tokens.
bool token_looks_special(const std::string& token);

// `model_dir` holds tokenizer_config.json / chat_template.* (read when
// present); `config` is config.json; `vocab_size` is config's vocab_size.
// Errors: a tokenizer with more tokens than vocab_size (the converter
// asserts the same), unreadable JSON files.
Result<std::vector<GgufKv>> tokenizer_metadata(const text::Tokenizer& tokenizer, const std::string& model_dir,
                                               const nlohmann::json& config, int64_t vocab_size);

}  // namespace ql::io::gguf
