#pragma once
// The unquantized weight that the quantize-while-loading kernels read
// (convert_dense, quantize_int8, quantize_nf4): checkpoint bytes already in
// device memory, and the problems they report back to the host. The device
// twin of core/quant/source_tensor.h (docs/gpu-backend.md, "Loading").
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace ql::gpu {

enum class SourceType : int32_t { kF32 = 0, kBF16 = 1, kF16 = 2 };

// `stack` matrices of [rows, cols] elements as stored in the checkpoint, one after another (matrix m starts at element
// m*rows*cols). transposed: each matrix is stored [cols, rows] row-major (the published fused-expert layout) and is read
// as its transpose, so element (r, c) of matrix m is at m*rows*cols + c*rows + r. Otherwise (r, c) is at
// m*rows*cols + r*cols + c. `data` may have any alignment (the fast paths need 16 bytes, else a slower path runs).
struct SourceMatrices {
  const void* data;
  SourceType type;
  int64_t rows, cols, stack;
  bool transposed;
};

// Problems found on the device, read by the host after the tensor's kernels (one small struct in device memory, reset
// by the caller before each tensor with reset_quantize_problems): the smallest flattened index (in STORED order, over
// the whole stack) of a NaN or infinity; for int8 the smallest flattened index (in [rows, cols] order of its matrix,
// plus m*rows*cols) of a finite value beyond fp16's range (|x| >= 65520); kNoProblem when none. And the Dense16Report
// counts of a 16-bit target (core/quant/dense16.h), over finite non-zero source values.
struct QuantizeProblems {
  unsigned long long first_nonfinite;
  unsigned long long first_beyond_f16;
  unsigned long long overflowed_to_inf, flushed_to_zero, became_subnormal;
};

inline constexpr unsigned long long kNoProblem = ~0ull;

// The "nothing found" state: first_* all ones (atomicMin lowers them), counts 0. Two memsets, so it can be captured
// in a CUDA graph.
inline cudaError_t reset_quantize_problems(QuantizeProblems* problems, cudaStream_t stream) {
  cudaError_t e = cudaMemsetAsync(problems, 0xff, 2 * sizeof(unsigned long long), stream);
  if (e != cudaSuccess) return e;
  return cudaMemsetAsync(&problems->overflowed_to_inf, 0, 3 * sizeof(unsigned long long), stream);
}

inline int64_t source_element_bytes(SourceType t) { return t == SourceType::kF32 ? 4 : 2; }

}  // namespace ql::gpu

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace ql::gpu::qsrc {

// Widening to fp32 is exact for all three types (as SourceTensor::read_f32).
template <SourceType T>
struct Src;
template <>
struct Src<SourceType::kF32> {
  using Bits = uint32_t;
  static __device__ __forceinline__ float decode(uint32_t b) { return __uint_as_float(b); }
};
template <>
struct Src<SourceType::kBF16> {
  using Bits = uint16_t;
  static __device__ __forceinline__ float decode(uint16_t b) { return __uint_as_float(static_cast<uint32_t>(b) << 16); }
};
template <>
struct Src<SourceType::kF16> {
  using Bits = uint16_t;
  static __device__ __forceinline__ float decode(uint16_t b) { return __half2float(__ushort_as_half(b)); }
};

// Element `idx` (stored order) as fp32. bytewise: the base is not aligned to the element size (a checkpoint offset
// may be odd), so the element is assembled from bytes, little-endian.
template <SourceType T>
__device__ __forceinline__ float load(const void* base, int64_t idx, bool bytewise) {
  using Bits = typename Src<T>::Bits;
  if (!bytewise) return Src<T>::decode(static_cast<const Bits*>(base)[idx]);
  const unsigned char* p = static_cast<const unsigned char*>(base) + idx * static_cast<int64_t>(sizeof(Bits));
  uint32_t b = 0;
#pragma unroll
  for (int k = 0; k < static_cast<int>(sizeof(Bits)); ++k) b |= static_cast<uint32_t>(p[k]) << (8 * k);
  return Src<T>::decode(static_cast<Bits>(b));
}

// 8 consecutive elements from a 16-byte aligned address (elem multiple of 8 from an aligned base).
template <SourceType T>
__device__ __forceinline__ void load8(const void* base, int64_t elem, float (&v)[8]) {
  if constexpr (T == SourceType::kF32) {
    const float4* p = reinterpret_cast<const float4*>(static_cast<const float*>(base) + elem);
    const float4 a = __ldg(p), b = __ldg(p + 1);
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
    v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
  } else {
    const uint4 q = __ldg(reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(base) + elem));
    const uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      v[2 * k] = Src<T>::decode(static_cast<uint16_t>(w[k] & 0xffffu));
      v[2 * k + 1] = Src<T>::decode(static_cast<uint16_t>(w[k] >> 16));
    }
  }
}

// NaN or infinity (a widened value is non-finite exactly when its source bits are).
__device__ __forceinline__ bool nonfinite(float v) { return !(fabsf(v) <= 3.40282347e38f); }

// W16 of LLM.int8: the fp16 round trip, as f16_to_f32(f32_to_f16(x)) in core/common/float16.h for finite x.
__device__ __forceinline__ float f16_round_trip(float x) { return __half2float(__float2half_rn(x)); }

__device__ __forceinline__ void report_min(unsigned long long* slot, unsigned long long idx) {
  if (idx != kNoProblem) atomicMin(slot, idx);
}

}  // namespace ql::gpu::qsrc
#endif
