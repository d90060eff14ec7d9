#include "core/text/added_vocabulary.h"

#include <algorithm>
#include <unordered_map>

#include <utf8proc.h>

#include "core/text/utf8.h"

namespace ql::text {

namespace {

// Rust regex's \w, as Hugging Face uses it for single_word: letters, marks,
// decimal digits, connector punctuation, letter numbers, joiners. (The few
// Other_Alphabetic symbols such as circled letters are not counted: utf8proc
// has no Alphabetic property.)
bool is_word_char(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return c == 0x200C || c == 0x200D;  // Join_Control
  }
}

// The code point that ends at byte `end` (text is valid UTF-8, end > 0).
char32_t code_point_before(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return utf8_step(text, start).code_point;
}

}  // namespace

void AddedVocabulary::Matcher::add(std::string text, size_t token) {
  const auto first = static_cast<unsigned char>(text[0]);
  by_first_byte[first].push_back(Pattern{std::move(text), token});
}

void AddedVocabulary::Matcher::sort() {
  for (auto& group : by_first_byte) {
    std::stable_sort(group.begin(), group.end(),
                     [](const Pattern& a, const Pattern& b) { return a.text.size() > b.text.size(); });
  }
}

Result<AddedVocabulary> AddedVocabulary::from_json(const std::optional<JsonField>& field,
                                                   const Normalizer& normalizer) {
  AddedVocabulary v;
  if (!field) return v;
  if (!field->json().is_array()) return field->error("expected an array, got {}", field->type_name());
  std::unordered_map<int32_t, size_t> index_of_id;
  std::unordered_map<std::string, size_t> index_of_content;
  for (size_t i = 0; i < field->json().size(); ++i) {
    const JsonField entry = field->element(i);
    if (!entry.json().is_object()) return entry.error("expected an object, got {}", entry.type_name());
    AddedToken t;
    auto id_field = entry.at("id");
    if (!id_field) return id_field.error();
    auto id = id_field->as_int();
    if (!id) return id.error();
    if (*id < 0 || *id > kMaxTokenId) {
      return id_field->error("id {} is outside 0..{}", *id, kMaxTokenId);
    }
    t.id = static_cast<int32_t>(*id);
    auto content_field = entry.at("content");
    if (!content_field) return content_field.error();
    auto content = content_field->as_string();
    if (!content) return content.error();
    if (content->empty()) return content_field->error("is empty");
    t.content = std::move(*content);
    struct Flag {
      const char* name;
      bool* value;
    };
    for (const Flag& flag : {Flag{"special", &t.special}, Flag{"single_word", &t.single_word},
                             Flag{"lstrip", &t.lstrip}, Flag{"rstrip", &t.rstrip},
                             Flag{"normalized", &t.normalized}}) {
      auto flag_field = entry.at(flag.name);
      if (!flag_field) return flag_field.error();
      auto value = flag_field->as_bool();
      if (!value) return value.error();
      *flag.value = *value;
    }
    if (auto it = index_of_id.find(t.id); it != index_of_id.end()) {
      return id_field->error("id {} is already used by added token {}", t.id,
                             quote_for_message(v.tokens_[it->second].content));
    }
    if (auto it = index_of_content.find(t.content); it != index_of_content.end()) {
      return content_field->error("{} is already added with id {}", quote_for_message(t.content),
                                  v.tokens_[it->second].id);
    }
    index_of_id.emplace(t.id, v.tokens_.size());
    index_of_content.emplace(t.content, v.tokens_.size());
    v.tokens_.push_back(std::move(t));
  }
  for (size_t i = 0; i < v.tokens_.size(); ++i) {
    const AddedToken& t = v.tokens_[i];
    if (t.normalized) {
      std::string form = normalizer.apply(t.content);
      if (!form.empty()) {
        v.normalized_.add(std::move(form), i);
        v.has_normalized_ = true;
      }
    } else {
      v.raw_.add(t.content, i);
    }
  }
  v.raw_.sort();
  v.normalized_.sort();
  return v;
}

void AddedVocabulary::split(std::string_view text, bool normalized_set, bool skip_special,
                            std::vector<TextPiece>& out) const {
  split_with(normalized_set ? normalized_ : raw_, text, skip_special, out);
}

void AddedVocabulary::split_with(const Matcher& matcher, std::string_view text, bool skip_special,
                                 std::vector<TextPiece>& out) const {
  size_t plain_start = 0;  // start of the plain text not yet emitted
  size_t pos = 0;
  while (pos < text.size()) {
    const auto& group = matcher.by_first_byte[static_cast<unsigned char>(text[pos])];
    const Matcher::Pattern* found = nullptr;
    for (const auto& p : group) {  // longest first
      if (text.compare(pos, p.text.size(), p.text) == 0) {
        found = &p;
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[found->token];
    size_t start = pos;
    size_t stop = pos + found->text.size();
    // A rejected match is skipped over whole, as Hugging Face's match
    // iterator does: no shorter token is tried at the same place.
    pos = stop;
    if (skip_special && token.special) continue;
    if (token.single_word) {
      const bool word_before = start > 0 && is_word_char(code_point_before(text, start));
      const bool word_after = stop < text.size() && is_word_char(utf8_step(text, stop).code_point);
      if (word_before || word_after) continue;
    }
    if (token.lstrip) {
      // White space before the token joins it, but never text already
      // claimed by the previous match.
      while (start > plain_start) {
        size_t prev = start - 1;
        while (prev > plain_start && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) --prev;
        if (!is_unicode_white_space(utf8_step(text, prev).code_point)) break;
        start = prev;
      }
    }
    if (token.rstrip) {
      // The search resumes after the swallowed white space (Hugging Face
      // resumes at the token's own end, which can only differ for added
      // tokens that begin with white space).
      while (stop < text.size()) {
        const Utf8Step step = utf8_step(text, stop);
        if (!is_unicode_white_space(step.code_point)) break;
        stop += step.length;
      }
      pos = stop;
    }
    if (start > plain_start) out.push_back(TextPiece{plain_start, start, -1});
    out.push_back(TextPiece{start, stop, token.id});
    plain_start = stop;
  }
  if (plain_start < text.size()) out.push_back(TextPiece{plain_start, text.size(), -1});
}

}  // namespace ql::text
