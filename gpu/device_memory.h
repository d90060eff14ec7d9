#pragma once
// GPU memory of the CUDA backend (docs/gpu-backend.md, "Memory"): owned
// device blocks counted by what they hold (weights, KV cache, workspace),
// the step arena, and pinned host staging for inputs and reads.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <cuda_runtime.h>

namespace ql::gpu {

enum class MemoryUse { kWeights = 0, kKvCache = 1, kWorkspace = 2 };

// Bytes in use per MemoryUse, shared by every block so blocks may outlive the backend.
struct MemoryCounters {
  std::atomic<size_t> bytes[3] = {0, 0, 0};
  std::atomic<size_t> peak_workspace = 0;
  size_t total() const { return bytes[0] + bytes[1] + bytes[2]; }
};
using CountersPtr = std::shared_ptr<MemoryCounters>;

// One cudaMalloc'd block, freed (and uncounted) with its last owner.
class DeviceBlock {
 public:
  // Null when the memory cannot be had (the caller reports the size).
  static std::shared_ptr<DeviceBlock> allocate(size_t bytes, MemoryUse use, const CountersPtr& counters);
  ~DeviceBlock();
  DeviceBlock(const DeviceBlock&) = delete;
  DeviceBlock& operator=(const DeviceBlock&) = delete;
  void* data() const { return ptr_; }
  size_t size() const { return size_; }

 private:
  DeviceBlock(void* p, size_t size, MemoryUse use, CountersPtr counters)
      : ptr_(p), size_(size), use_(use), counters_(std::move(counters)) {}
  void* ptr_;
  size_t size_;
  MemoryUse use_;
  CountersPtr counters_;
};

// The step arena: a bump allocator over one device block. begin_step() and
// rewind() free what came after; a step that outgrows the block takes extra
// blocks, and the next begin_step() replaces everything with one block of the
// high-water size, which changes generation() (recorded graphs hold arena
// addresses, so they are stale after that).
class DeviceArena {
 public:
  explicit DeviceArena(CountersPtr counters) : counters_(std::move(counters)) {}
  void* allocate(size_t bytes);  // null: out of memory
  void begin_step();
  size_t mark() const { return used_; }
  void rewind(size_t mark);
  void reserve(size_t bytes);  // the block is at least this large from the next begin_step()
  uint64_t generation() const { return generation_; }
  size_t capacity() const;
  size_t high_water() const { return high_water_; }
  size_t peak_used() const { return peak_used_; }  // the most bytes a step used

 private:
  CountersPtr counters_;
  std::shared_ptr<DeviceBlock> block_;
  std::vector<std::shared_ptr<DeviceBlock>> overflow_;
  size_t overflow_used_ = 0;    // bytes handed out of overflow blocks this step
  size_t overflow_offset_ = 0;  // bump offset in the last overflow block
  size_t used_ = 0;           // offset in block_
  size_t high_water_ = 0;     // the most a step needed (block part + overflow), or the reserve
  size_t peak_used_ = 0;      // the most a step used
  uint64_t generation_ = 0;
};

// Pinned host memory through which inputs reach the device: write() copies
// into a slot and queues the device copy; a slot is reused only after the
// stream has passed the copies that read it.
class PinnedStaging {
 public:
  PinnedStaging() = default;
  ~PinnedStaging();
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;
  // Host -> device of any size, through the ring in pieces.
  cudaError_t copy_to_device(void* dst, const void* src, size_t bytes, cudaStream_t stream);
  // Device -> host, waiting for the stream.
  cudaError_t copy_to_host(void* dst, const void* src, size_t bytes, cudaStream_t stream);

 private:
  cudaError_t ensure(size_t bytes);
  char* ring_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
};

}  // namespace ql::gpu
