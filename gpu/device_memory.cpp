#include "gpu/device_memory.h"

#include <algorithm>
#include <cstring>

namespace ql::gpu {
namespace {
constexpr size_t kAlign = 256;
constexpr size_t kOverflowChunk = size_t{64} << 20;
constexpr size_t kStagingBytes = size_t{64} << 20;
size_t round_up(size_t n, size_t a = kAlign) { return (n + a - 1) / a * a; }
}  // namespace

std::shared_ptr<DeviceBlock> DeviceBlock::allocate(size_t bytes, MemoryUse use, const CountersPtr& counters) {
  void* p = nullptr;
  const size_t size = round_up(std::max<size_t>(bytes, 1));
  if (cudaMalloc(&p, size) != cudaSuccess) {
    (void)cudaGetLastError();  // not sticky: the next call must not see it
    return nullptr;
  }
  if (counters) counters->bytes[static_cast<int>(use)] += size;
  return std::shared_ptr<DeviceBlock>(new DeviceBlock(p, size, use, counters));
}

DeviceBlock::~DeviceBlock() {
  cudaFree(ptr_);  // synchronises with the device: nothing in flight still reads it
  if (counters_) counters_->bytes[static_cast<int>(use_)] -= size_;
}

void* DeviceArena::allocate(size_t bytes) {
  const size_t size = round_up(std::max<size_t>(bytes, 1));
  if (block_ && used_ + size <= block_->size()) {
    void* p = static_cast<char*>(block_->data()) + used_;
    used_ += size;
    high_water_ = std::max(high_water_, used_ + overflow_used_);
    peak_used_ = std::max(peak_used_, used_ + overflow_used_);
    return p;
  }
  // Overflow: bump inside the last extra block, or take a new one.
  if (!overflow_.empty() && overflow_offset_ + size <= overflow_.back()->size()) {
    void* p = static_cast<char*>(overflow_.back()->data()) + overflow_offset_;
    overflow_offset_ += size;
    overflow_used_ += size;
    high_water_ = std::max(high_water_, used_ + overflow_used_);
    peak_used_ = std::max(peak_used_, used_ + overflow_used_);
    return p;
  }
  auto extra = DeviceBlock::allocate(std::max(size, kOverflowChunk), MemoryUse::kWorkspace, counters_);
  if (!extra) return nullptr;
  overflow_.push_back(extra);
  overflow_offset_ = size;
  overflow_used_ += size;
  high_water_ = std::max(high_water_, used_ + overflow_used_);
  peak_used_ = std::max(peak_used_, used_ + overflow_used_);
  counters_->peak_workspace = std::max(counters_->peak_workspace.load(), capacity());
  return extra->data();
}

void DeviceArena::rewind(size_t mark) {
  if (mark < used_) used_ = mark;
}

void DeviceArena::reserve(size_t bytes) { high_water_ = std::max(high_water_, round_up(bytes)); }

void DeviceArena::begin_step() {
  used_ = 0;
  if (overflow_.empty() && block_ && block_->size() >= high_water_) return;
  overflow_.clear();
  overflow_used_ = overflow_offset_ = 0;
  const size_t want = round_up(high_water_, size_t{16} << 20);
  if (!block_ || block_->size() < want) {
    block_.reset();
    block_ = DeviceBlock::allocate(want, MemoryUse::kWorkspace, counters_);
    ++generation_;
  }
  counters_->peak_workspace = std::max(counters_->peak_workspace.load(), capacity());
}

size_t DeviceArena::capacity() const {
  size_t total = block_ ? block_->size() : 0;
  for (const auto& b : overflow_) total += b->size();
  return total;
}

PinnedStaging::~PinnedStaging() {
  if (ring_) cudaFreeHost(ring_);
}

cudaError_t PinnedStaging::ensure(size_t bytes) {
  if (ring_ && capacity_ >= bytes) return cudaSuccess;
  if (ring_) cudaFreeHost(ring_);
  ring_ = nullptr;
  capacity_ = std::max(bytes, kStagingBytes);
  used_ = 0;
  void* p = nullptr;
  const cudaError_t e = cudaHostAlloc(&p, capacity_, cudaHostAllocDefault);
  if (e != cudaSuccess) {
    capacity_ = 0;
    return e;
  }
  ring_ = static_cast<char*>(p);
  return cudaSuccess;
}

cudaError_t PinnedStaging::copy_to_device(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (cudaError_t e = ensure(std::min(bytes, kStagingBytes)); e != cudaSuccess) return e;
  const char* from = static_cast<const char*>(src);
  char* to = static_cast<char*>(dst);
  while (bytes > 0) {
    const size_t piece = std::min(bytes, capacity_);
    if (used_ + round_up(piece, 16) > capacity_) {
      // Every earlier copy out of the ring must be done before it is reused.
      if (cudaError_t e = cudaStreamSynchronize(stream); e != cudaSuccess) return e;
      used_ = 0;
    }
    char* slot = ring_ + used_;
    std::memcpy(slot, from, piece);
    if (cudaError_t e = cudaMemcpyAsync(to, slot, piece, cudaMemcpyHostToDevice, stream); e != cudaSuccess) return e;
    used_ += round_up(piece, 16);
    from += piece;
    to += piece;
    bytes -= piece;
  }
  return cudaSuccess;
}

cudaError_t PinnedStaging::copy_to_host(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaStreamSynchronize(stream);
  if (cudaError_t e = ensure(std::min(bytes, kStagingBytes)); e != cudaSuccess) return e;
  char* to = static_cast<char*>(dst);
  const char* from = static_cast<const char*>(src);
  while (bytes > 0) {
    const size_t piece = std::min(bytes, capacity_);
    // Wait for everything before (and so for every copy out of the ring), then use its start.
    if (cudaError_t e = cudaStreamSynchronize(stream); e != cudaSuccess) return e;
    used_ = 0;
    if (cudaError_t e = cudaMemcpyAsync(ring_, from, piece, cudaMemcpyDeviceToHost, stream); e != cudaSuccess)
      return e;
    if (cudaError_t e = cudaStreamSynchronize(stream); e != cudaSuccess) return e;
    std::memcpy(to, ring_, piece);
    from += piece;
    to += piece;
    bytes -= piece;
  }
  return cudaSuccess;
}

}  // namespace ql::gpu
