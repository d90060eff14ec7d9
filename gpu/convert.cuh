#pragma once
// Widening of 16-bit weights to fp32 on the GPU: the first op of the CUDA
// backend, checked against core/common/float16.h by tests/gpu.
#include <cstddef>
#include <cstdint>

#include "core/common/result.h"

namespace ql::gpu {

enum class Half16 { kBF16, kF16 };

// Host-side convenience for tests: copies `n` values to the device, widens
// them there and copies fp32 back.
Status widen_to_f32_roundtrip(Half16 kind, const uint16_t* host_in, float* host_out, size_t n);

}  // namespace ql::gpu
