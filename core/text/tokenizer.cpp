// Tokenizer: encode and decode over the loaded Impl (see tokenizer_load.cpp).
#include "core/text/tokenizer.h"

#include "core/text/tokenizer_impl.h"
#include "core/text/utf8.h"

namespace ql::text {

namespace {

// Pre-tokenizes plain (already normalized) text and BPE-encodes each piece.
void encode_normalized(const Tokenizer::Impl& impl, std::string_view text, std::vector<Span>& spans,
                       std::vector<int32_t>& out) {
  spans.clear();
  impl.pre_tokenizer.split(text, spans);
  for (const Span& s : spans) impl.model.encode_word(text.substr(s.first, s.second - s.first), out);
}

// Plain text between raw-matched added tokens: normalize, then look for the
// added tokens that match in normalized form, then pre-tokenize and BPE.
void encode_plain(const Tokenizer::Impl& impl, std::string_view text, bool skip_special,
                  std::vector<Span>& spans, std::vector<int32_t>& out) {
  const std::string normalized = impl.normalizer.apply(text);
  if (!impl.added.has_normalized_tokens()) {
    encode_normalized(impl, normalized, spans, out);
    return;
  }
  std::vector<TextPiece> pieces;
  impl.added.split(normalized, /*normalized_set=*/true, skip_special, pieces);
  for (const TextPiece& p : pieces) {
    if (p.id >= 0) {
      out.push_back(p.id);
    } else {
      encode_normalized(impl, std::string_view(normalized).substr(p.begin, p.end - p.begin), spans, out);
    }
  }
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, SpecialTokens special) const {
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = to_valid_utf8(text);
    text = repaired;
  }
  const bool skip_special = special == SpecialTokens::kAsText;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  std::vector<TextPiece> pieces;
  impl_->added.split(text, /*normalized_set=*/false, skip_special, pieces);
  std::vector<Span> spans;
  for (const TextPiece& p : pieces) {
    if (p.id >= 0) {
      out.push_back(p.id);
    } else {
      encode_plain(*impl_, text.substr(p.begin, p.end - p.begin), skip_special, spans, out);
    }
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (!is_valid_id(id)) continue;  // as Hugging Face: unknown ids are dropped
    if (skip_special && is_special(id)) continue;
    bytes.append(token_bytes(id));
  }
  return to_valid_utf8(bytes);
}

Result<std::string> Tokenizer::decode_checked(std::span<const int32_t> ids, bool skip_special) const {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!is_valid_id(ids[i])) {
      if (ids[i] < 0 || static_cast<size_t>(ids[i]) >= vocab_size()) {
        return err("token id {} (position {}) is out of range: {} has ids 0..{}", ids[i], i,
                   impl_->label, vocab_size() - 1);
      }
      return err("token id {} (position {}) has no token in {}", ids[i], i, impl_->label);
    }
  }
  return decode(ids, skip_special);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  // Added tokens first, as Hugging Face looks them up.
  if (auto it = impl_->added_ids.find(std::string(token)); it != impl_->added_ids.end()) return it->second;
  return impl_->model.token_to_id(token);
}

std::string_view Tokenizer::id_to_token(int32_t id) const {
  if (!is_valid_id(id)) return {};
  if (const int32_t index = impl_->added_index[id]; index >= 0) return impl_->added.tokens()[index].content;
  return impl_->model.id_to_token(id);
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
  if (!is_valid_id(id)) return {};
  const auto& off = impl_->decoded_offsets;
  return std::string_view(impl_->decoded).substr(off[id], off[id + 1] - off[id]);
}

bool Tokenizer::is_valid_id(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->kinds.size() &&
         impl_->kinds[id] != Impl::IdKind::kNone;
}

bool Tokenizer::is_special(int32_t id) const {
  return is_valid_id(id) && impl_->kinds[id] == Impl::IdKind::kAddedSpecial;
}

size_t Tokenizer::vocab_size() const { return impl_->kinds.size(); }

const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added.tokens(); }

size_t Tokenizer::merge_count() const { return impl_->model.merge_count(); }

std::pair<std::string_view, std::string_view> Tokenizer::merge(size_t rank) const {
  if (rank >= merge_count()) return {};
  const auto [left, right] = impl_->model.merge(rank);
  return {impl_->model.id_to_token(left), impl_->model.id_to_token(right)};
}

const std::string& Tokenizer::source() const { return impl_->label; }

}  // namespace ql::text
