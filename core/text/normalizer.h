#pragma once
// The tokenizer.json "normalizer": null, a Unicode normal form (NFC, NFD,
// NFKC, NFKD; done with utf8proc), or a Sequence of those. Anything else is
// refused by name at load time rather than silently ignored.
#include <string>
#include <string_view>
#include <vector>

#include "core/common/result.h"
#include "core/text/json_field.h"

namespace ql::text {

enum class NormalForm { kNFC, kNFD, kNFKC, kNFKD };

class Normalizer {
 public:
  Normalizer() = default;  // the identity (normalizer: null)

  // `field` is the "normalizer" member; null means none.
  static Result<Normalizer> from_json(const JsonField& field);

  bool is_identity() const { return steps_.empty(); }
  // text must be valid UTF-8.
  std::string apply(std::string_view text) const;

 private:
  Status add_from_json(const JsonField& field);
  std::vector<NormalForm> steps_;
};

}  // namespace ql::text
