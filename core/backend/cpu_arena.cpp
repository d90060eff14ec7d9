#include "core/backend/cpu_arena.h"

#include <algorithm>
#include <cstring>

namespace ql::backend::cpu {
namespace {
constexpr size_t kAlign = 64;
size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
}  // namespace

CpuArena::Slot CpuArena::allocate(size_t bytes) {
  const size_t size = round_up(std::max<size_t>(bytes, 1));
  const size_t offset = used_;
  Slot slot;
  if (block_ && offset + size <= block_->size()) {
    slot = {block_, offset};
  } else {
    auto extra = AlignedBuffer::allocate(size, counter_);
    if (!extra) return {};
    overflow_.push_back({offset, extra});
    slot = {std::move(extra), 0};
  }
  used_ = offset + size;
  high_water_ = std::max(high_water_, used_);
  peak_used_ = std::max(peak_used_, used_);
  return slot;
}

void CpuArena::poison(size_t from, size_t to) {
  // 0xff bytes are a NaN in every float type; poisoning costs one memset of
  // what the step used, small next to the step's own work.
  if (block_ && from < block_->size()) std::memset(block_->data() + from, 0xff, std::min(to, block_->size()) - from);
  for (const Overflow& o : overflow_)
    if (o.offset >= from) std::memset(o.block->data(), 0xff, o.block->size());
}

void CpuArena::rewind(size_t mark) {
  if (mark >= used_) return;
  poison(mark, used_);
  std::erase_if(overflow_, [&](const Overflow& o) { return o.offset >= mark; });
  used_ = mark;
}

void CpuArena::begin_step() {
  rewind(0);
  overflow_.clear();
  if (!block_ || block_->size() < high_water_) {
    block_.reset();  // tensors of earlier steps may still hold it; it is dead to the arena
    block_ = AlignedBuffer::allocate(high_water_, counter_);
  }
}

size_t CpuArena::capacity() const {
  size_t total = block_ ? block_->size() : 0;
  for (const Overflow& o : overflow_) total += o.block->size();
  return total;
}

}  // namespace ql::backend::cpu
