#include "core/backend/cpu_scratch.h"

#include <array>
#include <vector>

namespace ql::backend::cpu {

float* thread_scratch(Scratch slot, size_t floats) {
  thread_local std::array<std::vector<float>, static_cast<size_t>(Scratch::kCount)> slots;
  auto& v = slots[static_cast<size_t>(slot)];
  if (v.size() < floats) v.resize(floats);
  return v.data();
}

}  // namespace ql::backend::cpu
