#include "core/text/tokenizer_json_reader.h"

#include <optional>

#include "core/text/json_field.h"
#include "core/text/token_limits.h"

namespace ql::text {

namespace {

using json = nlohmann::json;

// SAX handler: builds the DOM for ordinary members; switches to a
// streaming mode inside root.model.vocab (an object) and root.model.merges
// (an array), where each entry is checked and appended to the lists.
class Reader : public json::json_sax_t {
 public:
  Reader(TokenizerJson& out, const std::string& label) : out_(out), label_(label) {}

  const std::optional<Error>& error() const { return error_; }

  bool null() override { return scalar(json(nullptr), "null"); }
  bool boolean(bool v) override { return scalar(json(v), v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::kVocab) return vocab_id_out_of_range(std::to_string(v));
    return scalar(json(v), std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::kVocab) {
      if (v > static_cast<uint64_t>(kMaxTokenId)) return vocab_id_out_of_range(std::to_string(v));
      return add_vocab_entry(static_cast<int32_t>(v));
    }
    return scalar(json(v), std::to_string(v));
  }
  bool number_float(number_float_t v, const string_t& text) override { return scalar(json(v), text); }
  bool string(string_t& v) override {
    if (mode_ == Mode::kMerges) return add_merge_string(v);
    if (mode_ == Mode::kMergePair) {
      if (pair_count_ < 2) pair_[pair_count_] = v;
      ++pair_count_;
      return true;
    }
    return scalar(json(std::move(v)), "a string");
  }
  bool binary(binary_t&) override { return scalar(json(), "binary"); }

  bool start_object(std::size_t) override {
    if (mode_ != Mode::kDom) return wrong_entry("an object");
    const bool is_vocab = !stack_.empty() && stack_.back() == model_ && key_ == "vocab";
    json* placed = place(json::object());
    if (stack_.size() == 1 && key_ == "model") model_ = placed;  // root["model"]
    if (is_vocab) {
      if (out_.vocab.present) return fail("model.vocab: appears twice");
      out_.vocab.present = true;
      mode_ = Mode::kVocab;
      return true;
    }
    stack_.push_back(placed);
    return true;
  }
  bool key(string_t& k) override {
    if (mode_ == Mode::kVocab) {
      vocab_key_ = k;
      return true;
    }
    key_ = k;
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kDom;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kMergePair;
      pair_count_ = 0;
      return true;
    }
    if (mode_ != Mode::kDom) return wrong_entry("an array");
    const bool is_merges = !stack_.empty() && stack_.back() == model_ && key_ == "merges";
    json* placed = place(json::array());
    if (is_merges) {
      if (out_.merges.present) return fail("model.merges: appears twice");
      out_.merges.present = true;
      mode_ = Mode::kMerges;
      return true;
    }
    stack_.push_back(placed);
    return true;
  }
  bool end_array() override {
    if (mode_ == Mode::kMergePair) {
      if (pair_count_ != 2) {
        return fail(fmt::format("model.merges[{}]: expected [\"left\", \"right\"], got an array of {}",
                                out_.merges.entries.size(), pair_count_));
      }
      add_merge(pair_[0], pair_[1]);
      mode_ = Mode::kMerges;
      return true;
    }
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kDom;
      return true;
    }
    stack_.pop_back();
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    if (!error_) error_ = err("{}: not valid JSON: {}", label_, one_line(e.what()));
    return false;
  }

 private:
  enum class Mode { kDom, kVocab, kMerges, kMergePair };

  bool fail(const std::string& message) {
    error_ = err("{}: {}", label_, message);
    return false;
  }

  // A value inside the DOM part: placed under the current key or appended.
  json* place(json value) {
    if (stack_.empty()) {
      out_.doc = std::move(value);
      return &out_.doc;
    }
    json* parent = stack_.back();
    if (parent->is_object()) {
      json& slot = (*parent)[key_];
      slot = std::move(value);
      return &slot;
    }
    parent->push_back(std::move(value));
    return &parent->back();
  }

  bool scalar(json value, const std::string& shown) {
    switch (mode_) {
      case Mode::kDom: place(std::move(value)); return true;
      case Mode::kVocab:
        return fail(fmt::format("model.vocab: token {}: expected an integer id, got {}",
                                quote_for_message(vocab_key_), shown));
      case Mode::kMerges: return wrong_entry(shown);
      case Mode::kMergePair: return wrong_entry_in_pair(shown);
    }
    return true;
  }

  bool wrong_entry(const std::string& what) {
    if (mode_ == Mode::kVocab) {
      return fail(fmt::format("model.vocab: token {}: expected an integer id, got {}",
                              quote_for_message(vocab_key_), what));
    }
    return fail(fmt::format("model.merges[{}]: expected \"left right\" or [\"left\", \"right\"], got {}",
                            out_.merges.entries.size(), what));
  }
  bool wrong_entry_in_pair(const std::string& what) {
    return fail(fmt::format("model.merges[{}]: expected [\"left\", \"right\"] (two strings), got {} inside",
                            out_.merges.entries.size(), what));
  }

  bool vocab_id_out_of_range(const std::string& value) {
    return fail(fmt::format("model.vocab: token {}: id {} is outside 0..{}", quote_for_message(vocab_key_),
                            value, kMaxTokenId));
  }

  bool add_vocab_entry(int32_t id) {
    StreamedVocab& v = out_.vocab;
    if (v.text.size() + vocab_key_.size() > UINT32_MAX) return fail("model.vocab: larger than 4 GiB");
    v.entries.push_back({static_cast<uint32_t>(v.text.size()), static_cast<uint32_t>(vocab_key_.size()), id});
    v.text += vocab_key_;
    return true;
  }

  bool add_merge_string(const std::string& s) {
    // The older "left right" form: exactly one space separates the two.
    const size_t space = s.find(' ');
    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
      return fail(fmt::format("model.merges[{}]: expected \"left right\" (two tokens and one space), got {}",
                              out_.merges.entries.size(), quote_for_message(s)));
    }
    add_merge(std::string_view(s).substr(0, space), std::string_view(s).substr(space + 1));
    return true;
  }

  void add_merge(std::string_view left, std::string_view right) {
    StreamedMerges& m = out_.merges;
    const auto left_offset = static_cast<uint32_t>(m.text.size());
    m.text += left;
    const auto right_offset = static_cast<uint32_t>(m.text.size());
    m.text += right;
    m.entries.push_back({left_offset, static_cast<uint32_t>(left.size()), right_offset,
                         static_cast<uint32_t>(right.size())});
  }

  TokenizerJson& out_;
  const std::string& label_;
  std::optional<Error> error_;
  std::vector<json*> stack_;  // open DOM containers
  std::string key_;           // the last key seen in the DOM part
  json* model_ = nullptr;     // the root's "model" object
  Mode mode_ = Mode::kDom;
  std::string vocab_key_;
  std::string pair_[2];
  size_t pair_count_ = 0;
};

}  // namespace

Result<TokenizerJson> read_tokenizer_json(std::string_view text, const std::string& label) {
  TokenizerJson out;
  out.vocab.entries.reserve(text.size() / 80);
  out.merges.entries.reserve(text.size() / 80);
  Reader reader(out, label);
  const bool ok = json::sax_parse(text.begin(), text.end(), &reader);
  if (reader.error()) return *reader.error();
  if (!ok) return err("{}: not valid JSON", label);
  if (out.merges.text.size() > UINT32_MAX) return err("{}: model.merges: larger than 4 GiB", label);
  return out;
}

}  // namespace ql::text
