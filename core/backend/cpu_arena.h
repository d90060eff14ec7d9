#pragma once
// The CPU backend's step arena (docs/backend-contract.md, "Memory"): a bump
// allocator over one aligned block, rewound by begin_step() and rewind(), so
// the CPU follows the same lifetimes as the GPU and CI proves the model keeps
// them. Freed bytes are poisoned with NaN patterns: a step tensor used after
// its rewind shows up as NaN in the parity tests instead of working by luck.
//
// A step that outgrows the block gets overflow blocks; the next begin_step()
// replaces everything with one block of the high-water size, so a repeated
// step allocates nothing after its first run.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

#include "core/backend/cpu_memory.h"

namespace ql::backend::cpu {

class CpuArena {
 public:
  explicit CpuArena(ByteCounter counter) : counter_(std::move(counter)) {}

  struct Slot {
    std::shared_ptr<AlignedBuffer> block;  // null when out of memory
    size_t offset = 0;
  };
  Slot allocate(size_t bytes);

  void begin_step();
  size_t mark() const { return used_; }
  void rewind(size_t mark);
  // The block is at least `bytes` from the next begin_step() on.
  void reserve(size_t bytes) { high_water_ = std::max(high_water_, bytes); }

  size_t capacity() const;     // bytes held now (block + overflow)
  size_t high_water() const { return high_water_; }  // the block size the next begin_step() makes
  size_t peak_used() const { return peak_used_; }    // the most bytes a step used

 private:
  void poison(size_t from, size_t to);

  ByteCounter counter_;
  std::shared_ptr<AlignedBuffer> block_;
  // Overflow allocations of this step: (offset in the logical arena, block).
  struct Overflow {
    size_t offset;
    std::shared_ptr<AlignedBuffer> block;
  };
  std::vector<Overflow> overflow_;
  size_t used_ = 0;        // logical bytes in use this step
  size_t high_water_ = 0;  // the largest `used_` ever, or what reserve() asked for
  size_t peak_used_ = 0;   // the largest `used_` ever
};

}  // namespace ql::backend::cpu
