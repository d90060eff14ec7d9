#include "core/text/bpe_model.h"

#include <algorithm>
#include <mutex>

#include "core/text/byte_level.h"
#include "core/text/utf8.h"

namespace ql::text {

namespace {

// Pre-tokens longer than this are rare and not worth keeping.
constexpr size_t kMaxCachedWordBytes = 256;
constexpr size_t kMaxCachedWords = 200'000;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

struct BpeModel::Cache {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
};

BpeModel::BpeModel() : cache_(std::make_unique<Cache>()) {}
BpeModel::~BpeModel() = default;
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;

namespace {

// model.vocab / model.merges were streamed (not in the DOM) when present in
// the right shape; otherwise report what the DOM holds there.
Error missing_or_misshaped(const JsonField& field, std::string_view key, std::string_view expected) {
  auto member = field.at(key);
  if (!member) return member.error();
  return member->error("expected {}, got {}", expected, member->type_name());
}

}  // namespace

Result<BpeModel> BpeModel::from_json(const JsonField& field, const StreamedVocab& vocab,
                                     const StreamedMerges& merges) {
  if (!field.json().is_object()) return field.error("expected an object, got {}", field.type_name());
  auto type_field = field.at("type");
  if (!type_field) return type_field.error();
  auto type = type_field->as_string();
  if (!type) return type.error();
  if (*type != "BPE") {
    return type_field->error("expected \"BPE\", got {} (only byte-level BPE tokenizers are supported)",
                             quote_for_message(*type));
  }
  if (auto dropout = field.find("dropout")) {
    if (!dropout->json().is_number() || dropout->json().get<double>() != 0.0) {
      return dropout->error("BPE dropout is not supported (randomised tokenization)");
    }
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (auto affix = field.find(key)) {
      auto text = affix->as_string();
      if (!text) return text.error();
      if (!text->empty()) return affix->error("{} is not supported", quote_for_message(*text));
    }
  }
  BpeModel model;
  auto ignore_merges = field.bool_or("ignore_merges", false);
  if (!ignore_merges) return ignore_merges.error();
  model.ignore_merges_ = *ignore_merges;

  if (!vocab.present) return missing_or_misshaped(field, "vocab", "an object of token -> id");
  QL_TRY(model.load_vocab(field, vocab));
  QL_TRY(model.check_byte_alphabet(field));
  if (!merges.present) return missing_or_misshaped(field, "merges", "an array");
  QL_TRY(model.load_merges(field, merges));
  return model;
}

Status BpeModel::load_vocab(const JsonField& field, const StreamedVocab& vocab) {
  auto where = [&](std::string_view message) {
    return err("{}: {}.vocab: {}", field.label(), field.path(), message);
  };
  if (vocab.entries.empty()) return where("is empty");
  std::vector<const StreamedVocab::Entry*> by_id;
  for (const StreamedVocab::Entry& e : vocab.entries) {
    if (e.length == 0) return where("the empty string is not a valid token");
    if (static_cast<size_t>(e.id) >= by_id.size()) by_id.resize(static_cast<size_t>(e.id) + 1, nullptr);
    if (by_id[e.id] != nullptr) {
      return where(fmt::format("id {} is given to both {} and {}", e.id,
                               quote_for_message(vocab.token(*by_id[e.id])), quote_for_message(vocab.token(e))));
    }
    by_id[e.id] = &e;
  }
  offsets_.assign(by_id.size() + 1, 0);
  present_.assign(by_id.size(), false);
  text_.reserve(vocab.text.size());
  for (size_t id = 0; id < by_id.size(); ++id) {
    if (by_id[id]) {
      text_ += vocab.token(*by_id[id]);
      present_[id] = true;
    }
    offsets_[id + 1] = static_cast<uint32_t>(text_.size());
  }
  // text_ is final now, so views into it stay valid (moves keep the buffer).
  ids_.reserve(vocab.entries.size());
  for (size_t id = 0; id < by_id.size(); ++id) {
    if (!present_[id]) continue;
    const auto [it, inserted] = ids_.emplace(id_to_token(static_cast<int32_t>(id)), static_cast<int32_t>(id));
    if (!inserted) {
      return where(fmt::format("token {} appears twice (ids {} and {})", quote_for_message(it->first),
                               it->second, id));
    }
  }
  if (ignore_merges_) {
    for (size_t id = 0; id < by_id.size(); ++id) {
      if (present_[id]) {
        ids_by_bytes_.emplace(byte_level_decode_token(id_to_token(static_cast<int32_t>(id))),
                              static_cast<int32_t>(id));
      }
    }
  }
  return {};
}

Status BpeModel::check_byte_alphabet(const JsonField& field) {
  // Every byte must have a token, or some text could not be encoded at all.
  for (int b = 0; b < 256; ++b) {
    std::string symbol;
    append_utf8(symbol, byte_to_code_point(static_cast<uint8_t>(b)));
    auto id = token_to_id(symbol);
    if (!id) {
      return err("{}: {}.vocab: byte-level token {} (byte 0x{:02X}) is missing", field.label(), field.path(),
                 quote_for_message(symbol), b);
    }
    byte_ids_[b] = *id;
  }
  return {};
}

Status BpeModel::load_merges(const JsonField& field, const StreamedMerges& merges) {
  merges_.reserve(merges.entries.size());
  merge_table_.reserve(merges.entries.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.entries.size(); ++rank) {
    auto where = [&](std::string_view message) {
      return err("{}: {}.merges[{}]: {}", field.label(), field.path(), rank, message);
    };
    const StreamedMerges::Entry& e = merges.entries[rank];
    const std::string_view left = merges.left(e);
    const std::string_view right = merges.right(e);
    auto left_id = token_to_id(left);
    if (!left_id) return where(fmt::format("{} is not in model.vocab", quote_for_message(left)));
    auto right_id = token_to_id(right);
    if (!right_id) return where(fmt::format("{} is not in model.vocab", quote_for_message(right)));
    joined.assign(left);
    joined.append(right);
    auto merged_id = token_to_id(joined);
    if (!merged_id) return where(fmt::format("merged token {} is not in model.vocab", quote_for_message(joined)));
    merges_.emplace_back(*left_id, *right_id);
    merge_table_.insert_or_assign(*left_id, *right_id,
                                  PairMergeTable::Merge{static_cast<int32_t>(rank), *merged_id});
  }
  return {};
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::string_view BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= id_limit() || !present_[id]) return {};
  return std::string_view(text_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
}

void BpeModel::encode_word(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.size() == 1) {
    out.push_back(byte_ids_[static_cast<uint8_t>(bytes[0])]);
    return;
  }
  if (ignore_merges_) {
    auto it = ids_by_bytes_.find(std::string(bytes));
    if (it != ids_by_bytes_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = bytes.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard lock(cache_->mutex);
    auto it = cache_->words.find(bytes);
    if (it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge_word(bytes, out);
  if (cacheable) {
    std::lock_guard lock(cache_->mutex);
    if (cache_->words.size() < kMaxCachedWords) {
      cache_->words.emplace(std::string(bytes), std::vector<int32_t>(out.begin() + first, out.end()));
    }
  }
}

void BpeModel::merge_word(std::string_view bytes, std::vector<int32_t>& out) const {
  // Symbols form a linked list; a min-heap holds candidate merges ordered by
  // (rank, position), so the lowest-ranked pair merges first and ties go to
  // the leftmost, exactly as Hugging Face's BPE does. Entries made stale by
  // an earlier merge are recognised and dropped when popped.
  struct Symbol {
    int32_t id;    // -1 once merged into its left neighbour
    int32_t prev;  // -1 at the start
    int32_t next;  // -1 at the end
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const int32_t n = static_cast<int32_t>(bytes.size());
  std::vector<Symbol> symbols(n);
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = Symbol{byte_ids_[static_cast<uint8_t>(bytes[i])], i - 1, i + 1 < n ? i + 1 : -1};
  }
  std::vector<Candidate> heap;
  heap.reserve(n);
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (const auto* m = merge_table_.find(symbols[i].id, symbols[i + 1].id)) {
      heap.push_back(Candidate{m->rank, i, m->new_id});
    }
  }
  const auto cmp = std::greater<Candidate>{};
  std::make_heap(heap.begin(), heap.end(), cmp);
  auto push = [&](int32_t pos) {
    const Symbol& s = symbols[pos];
    if (s.next < 0) return;
    if (const auto* m = merge_table_.find(s.id, symbols[s.next].id)) {
      heap.push_back(Candidate{m->rank, pos, m->new_id});
      std::push_heap(heap.begin(), heap.end(), cmp);
    }
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[top.pos];
    if (left.id < 0 || left.next < 0) continue;
    const int32_t right_pos = left.next;
    const Symbol right = symbols[right_pos];
    const auto* m = merge_table_.find(left.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;  // stale entry
    left.id = top.new_id;
    left.next = right.next;
    symbols[right_pos].id = -1;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) push(left.prev);
    push(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

}  // namespace ql::text
