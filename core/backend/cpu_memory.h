#pragma once
// Heap blocks of the CPU backend. Each block reports its size to the
// backend's byte counter for bytes_in_use(); the counter is shared so that a
// tensor or weight may outlive the backend that made it.
#include <atomic>
#include <cstddef>
#include <memory>

namespace ql::backend::cpu {

using ByteCounter = std::shared_ptr<std::atomic<size_t>>;

class AlignedBuffer {
 public:
  // 64-byte alignment: a cache line, and the widest SIMD load. Returns nullptr
  // when the memory cannot be had (never throws).
  static std::shared_ptr<AlignedBuffer> allocate(size_t bytes, const ByteCounter& counter);
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  AlignedBuffer(std::byte* data, size_t size, ByteCounter counter);
  std::byte* data_;
  size_t size_;
  ByteCounter counter_;
};

// Adds `bytes` held somewhere else (the vectors of a host-quantized weight)
// to the backend's counter for as long as it lives, so that bytes_in_use()
// covers every weight the backend keeps.
class CountedBytes {
 public:
  CountedBytes(size_t bytes, ByteCounter counter);
  ~CountedBytes();
  CountedBytes(const CountedBytes&) = delete;
  CountedBytes& operator=(const CountedBytes&) = delete;

 private:
  size_t bytes_;
  ByteCounter counter_;
};

}  // namespace ql::backend::cpu
