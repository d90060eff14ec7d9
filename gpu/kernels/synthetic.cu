// Synthetic weights on the GPU (synthetic.cuh). Integer hashing, one exact
// int->float conversion, an exact power-of-two scaling and two separately
// rounded fp32 operations: nothing that could differ from the CPU.
#include "gpu/kernels/synthetic.cuh"

#include <cmath>

#include <cuda_bf16.h>

#include "gpu/kernels/launch.cuh"

namespace ql::gpu {
namespace {

// SplitMix64's finaliser, as synthetic_mix64.
__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// f32_to_bf16 of core/common/float16.h, bit for bit.
__device__ __forceinline__ uint32_t to_bf16_bits(float f) {
  uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return ((bits >> 16) | 0x40u) & 0xffffu;
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return bits >> 16;
}

__device__ __forceinline__ float synthetic_value(uint64_t seed, uint64_t index, float offset, float scale) {
  const uint64_t bits = mix64(seed ^ mix64(index));
  const int32_t r = static_cast<int32_t>(static_cast<uint32_t>(bits >> 32));
  const float u = __fmul_rn(__int2float_rn(r), 0x1.0p-31f);  // exact: a power of two, no underflow
  return __fadd_rn(offset, __fmul_rn(scale, u));
}

__device__ __forceinline__ uint32_t synthetic_bf16(uint64_t seed, uint64_t index, float offset, float scale) {
  return to_bf16_bits(synthetic_value(seed, index, offset, scale));
}

// Two values rounded to bf16 by one hardware conversion (round to nearest even, subnormals kept): the same bits
// as to_bf16_bits for every value but NaN, which finite offset and scale never produce.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Elements [head, head + 8 nvec) as 16-byte stores (out + head is 16-byte aligned); the first `head` and the last
// `tail` elements by the first threads. kHardwareRound: offset and scale are finite (no NaN can appear).
template <bool kHardwareRound>
__global__ void __launch_bounds__(256) synthetic_kernel(uint64_t seed, uint64_t first_index, int64_t head,
                                                        int64_t nvec, int64_t tail, float offset, float scale,
                                                        uint16_t* out) {
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = tid; v < nvec; v += stride) {
    const int64_t e = head + v * 8;
    const uint64_t i0 = first_index + static_cast<uint64_t>(e);
    uint32_t w[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      if constexpr (kHardwareRound) {
        w[k] = pack_bf16x2(synthetic_value(seed, i0 + 2 * k, offset, scale),
                           synthetic_value(seed, i0 + 2 * k + 1, offset, scale));
      } else {
        w[k] = synthetic_bf16(seed, i0 + 2 * k, offset, scale) | (synthetic_bf16(seed, i0 + 2 * k + 1, offset, scale) << 16);
      }
    }
    *reinterpret_cast<uint4*>(out + e) = make_uint4(w[0], w[1], w[2], w[3]);
  }
  if (tid < head) out[tid] = static_cast<uint16_t>(synthetic_bf16(seed, first_index + tid, offset, scale));
  if (tid < tail) {
    const int64_t e = head + nvec * 8 + tid;
    out[e] = static_cast<uint16_t>(synthetic_bf16(seed, first_index + static_cast<uint64_t>(e), offset, scale));
  }
}

}  // namespace

cudaError_t launch_synthetic_bf16(uint64_t seed, uint64_t first_index, int64_t count, float offset, float scale,
                                  void* out, cudaStream_t stream) {
  if (count < 0 || (count > 0 && out == nullptr)) return cudaErrorInvalidValue;
  if (count == 0) return cudaSuccess;
  const uintptr_t addr = reinterpret_cast<uintptr_t>(out);
  if (addr & 1) return cudaErrorMisalignedAddress;
  int64_t head = static_cast<int64_t>(((16 - (addr & 15)) & 15) / 2);
  if (head > count) head = count;
  const int64_t nvec = (count - head) / 8;
  const int64_t tail = count - head - nvec * 8;
  const unsigned grid = blocks_for(nvec > 0 ? nvec : 1, 256);
  uint16_t* o = static_cast<uint16_t*>(out);
  // The integer rounding to bf16 (the path checked bit for bit against the
  // CPU on an H100); the hardware-rounding variant is kept for a later
  // measurement.
  synthetic_kernel<false><<<grid, 256, 0, stream>>>(seed, first_index, head, nvec, tail, offset, scale, o);
  return launch_status();
}

}  // namespace ql::gpu
