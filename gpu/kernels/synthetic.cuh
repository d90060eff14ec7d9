#pragma once
// Synthetic checkpoints generated on the GPU (docs/synthetic-models.md): the
// device twin of core/model/synthetic_values.h, bit for bit:
//   value(i) = offset + scale * (float(int32(mix64(seed ^ mix64(i)) >> 32)) * 2^-31)
// (product and sum rounded separately), stored as bf16 rounded to nearest even.
#include <cstdint>

#include <cuda_runtime.h>

namespace ql::gpu {

// Writes `count` bf16 values (raw bits) for element indices first_index .. first_index + count - 1 of the tensor
// whose seed is `seed` (ql::model::synthetic_tensor_seed). out: 2-byte aligned (cudaErrorMisalignedAddress
// otherwise); the 16-byte aligned middle is written with 16-byte stores. Bit-identical for finite offset and scale (a
// NaN's payload differs between x86 and the GPU).
cudaError_t launch_synthetic_bf16(uint64_t seed, uint64_t first_index, int64_t count, float offset, float scale,
                                  void* out, cudaStream_t stream);

}  // namespace ql::gpu
