#pragma once
// Reads tokenizer.json in one streaming pass. The two big members,
// model.vocab (~150k entries) and model.merges (~150k pairs), go straight
// into compact lists; everything else becomes an ordinary nlohmann DOM.
// (A full DOM of the 11 MB Qwen file costs about 0.5 s to build and free;
// this way loading takes well under half of that.)
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/result.h"

namespace ql::text {

// model.vocab when it is an object: token -> id, in file order.
struct StreamedVocab {
  struct Entry {
    uint32_t offset;
    uint32_t length;
    int32_t id;  // already checked to be in 0..kMaxTokenId
  };
  bool present = false;
  std::string text;  // all token strings back to back
  std::vector<Entry> entries;
  std::string_view token(const Entry& e) const { return std::string_view(text).substr(e.offset, e.length); }
};

// model.merges when it is an array: each merge as its two token strings.
struct StreamedMerges {
  struct Entry {
    uint32_t left_offset, left_length, right_offset, right_length;
  };
  bool present = false;
  std::string text;
  std::vector<Entry> entries;
  std::string_view left(const Entry& e) const { return std::string_view(text).substr(e.left_offset, e.left_length); }
  std::string_view right(const Entry& e) const {
    return std::string_view(text).substr(e.right_offset, e.right_length);
  }
};

struct TokenizerJson {
  nlohmann::json doc;  // without the streamed members
  StreamedVocab vocab;
  StreamedMerges merges;
};

// Errors: "label: not valid JSON: ..." or "label: model.vocab: ..." /
// "label: model.merges[i]: ..." for malformed entries of the streamed members.
Result<TokenizerJson> read_tokenizer_json(std::string_view json, const std::string& label);

}  // namespace ql::text
