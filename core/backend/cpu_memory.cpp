#include "core/backend/cpu_memory.h"

#include <new>

namespace ql::backend::cpu {

namespace {
constexpr std::align_val_t kAlignment{64};
}

std::shared_ptr<AlignedBuffer> AlignedBuffer::allocate(size_t bytes, const ByteCounter& counter) {
  // A zero-size tensor still gets a valid, distinct pointer.
  void* p = ::operator new(bytes == 0 ? 1 : bytes, kAlignment, std::nothrow);
  if (p == nullptr) return nullptr;
  std::shared_ptr<AlignedBuffer> buffer(new (std::nothrow) AlignedBuffer(static_cast<std::byte*>(p), bytes, counter));
  if (!buffer) ::operator delete(p, kAlignment);
  return buffer;
}

AlignedBuffer::AlignedBuffer(std::byte* data, size_t size, ByteCounter counter)
    : data_(data), size_(size), counter_(std::move(counter)) {
  if (counter_) *counter_ += size_;
}

AlignedBuffer::~AlignedBuffer() {
  if (counter_) *counter_ -= size_;
  ::operator delete(data_, kAlignment);
}

CountedBytes::CountedBytes(size_t bytes, ByteCounter counter) : bytes_(bytes), counter_(std::move(counter)) {
  if (counter_) *counter_ += bytes_;
}

CountedBytes::~CountedBytes() {
  if (counter_) *counter_ -= bytes_;
}

}  // namespace ql::backend::cpu
