#pragma once
// (left id, right id) -> (merge rank, merged id): the BPE merge lookup, asked
// once per adjacent pair per merge step, so it is a flat open-addressing
// table (linear probing) rather than std::unordered_map.
#include <cstdint>
#include <vector>

namespace ql::text {

class PairMergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };

  // Sizes the table for n pairs; call before inserting.
  void reserve(size_t n) {
    size_t capacity = 16;
    bits_ = 4;
    while (capacity < 2 * n) {
      capacity *= 2;
      ++bits_;
    }
    slots_.assign(capacity, Slot{kEmpty, {0, 0}});
    size_ = 0;
  }

  // A pair seen twice keeps the later merge, as Hugging Face's HashMap does.
  void insert_or_assign(int32_t left, int32_t right, Merge merge) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    const uint64_t key = make_key(left, right);
    size_t i = slot_of(key);
    while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & (slots_.size() - 1);
    if (slots_[i].key == kEmpty) ++size_;
    slots_[i] = Slot{key, merge};
  }

  const Merge* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = make_key(left, right);
    size_t i = slot_of(key);
    while (true) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.merge;
      if (s.key == kEmpty) return nullptr;
      i = (i + 1) & (slots_.size() - 1);
    }
  }

  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are non-negative, so no key is all ones
  struct Slot {
    uint64_t key;
    Merge merge;
  };

  static uint64_t make_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  size_t slot_of(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - bits_));  // Fibonacci hashing
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(old.empty() ? 8 : old.size());
    for (const Slot& s : old) {
      if (s.key != kEmpty) {
        insert_or_assign(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFFu),
                         s.merge);
      }
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
  int bits_ = 4;
};

}  // namespace ql::text
