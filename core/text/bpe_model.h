#pragma once
// The tokenizer.json "model" of type BPE, byte-level: the vocabulary (token
// strings in the GPT-2 byte alphabet), the ranked merges, and the merge loop
// that turns one pre-token's bytes into ids. Results for short pre-tokens
// are cached (text repeats words a lot).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/common/result.h"
#include "core/text/json_field.h"
#include "core/text/pair_merge_table.h"
#include "core/text/token_limits.h"
#include "core/text/tokenizer_json_reader.h"

namespace ql::text {

class BpeModel {
 public:
  BpeModel();
  ~BpeModel();
  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;

  // `field` is the "model" member of tokenizer.json; its vocab and merges
  // were streamed into the two lists (see tokenizer_json_reader.h).
  static Result<BpeModel> from_json(const JsonField& field, const StreamedVocab& vocab,
                                    const StreamedMerges& merges);

  // Appends the ids of one pre-token given as raw bytes (not empty).
  void encode_word(std::string_view bytes, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The vocabulary string of id, or empty if the vocabulary has no such id.
  std::string_view id_to_token(int32_t id) const;
  // One past the largest id in the vocabulary.
  int32_t id_limit() const { return static_cast<int32_t>(offsets_.size()) - 1; }
  size_t merge_count() const { return merges_.size(); }
  // The pair merged at rank r (0 = first merge), as ids.
  std::pair<int32_t, int32_t> merge(size_t rank) const { return merges_[rank]; }

 private:
  Status load_vocab(const JsonField& field, const StreamedVocab& vocab);
  Status load_merges(const JsonField& field, const StreamedMerges& merges);
  Status check_byte_alphabet(const JsonField& field);
  void merge_word(std::string_view bytes, std::vector<int32_t>& out) const;

  std::string text_;               // all token strings, in id order
  std::vector<uint32_t> offsets_;  // token id's string is text_[offsets_[id], offsets_[id+1])
  std::vector<bool> present_;      // false for ids the vocabulary skips
  std::unordered_map<std::string_view, int32_t> ids_;  // views into text_
  std::vector<std::pair<int32_t, int32_t>> merges_;
  PairMergeTable merge_table_;
  int32_t byte_ids_[256] = {};
  // ignore_merges: a pre-token that is itself in the vocabulary is one token.
  bool ignore_merges_ = false;
  std::unordered_map<std::string, int32_t> ids_by_bytes_;  // only filled for ignore_merges

  struct Cache;
  std::unique_ptr<Cache> cache_;
};

}  // namespace ql::text
