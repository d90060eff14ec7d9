#pragma once
// The shared, immutable state behind ql::text::Tokenizer (internal header:
// only tokenizer*.cpp include it).
#include <string>
#include <unordered_map>
#include <vector>

#include "core/text/added_vocabulary.h"
#include "core/text/bpe_model.h"
#include "core/text/normalizer.h"
#include "core/text/pre_tokenizer.h"
#include "core/text/tokenizer.h"

namespace ql::text {

struct Tokenizer::Impl {
  enum class IdKind : uint8_t { kNone, kModel, kAdded, kAddedSpecial };

  std::string label;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  BpeModel model;
  AddedVocabulary added;

  // Indexed by id, over model and added ids together.
  std::vector<IdKind> kinds;
  std::vector<int32_t> added_index;  // index into added.tokens(), or -1
  std::string decoded;               // every token's bytes, in id order
  std::vector<uint32_t> decoded_offsets;
  std::unordered_map<std::string, int32_t> added_ids;  // content -> id

  // Fills the id-indexed tables; the other members must be set.
  Status build_id_tables();
};

}  // namespace ql::text
