// Rotary embedding (rope.cuh). One block per row; a thread takes 4
// consecutive d of one head's lower half (float4 of lo, hi, cos, sin) or,
// when unaligned / half % 4 != 0, one d. The cos/sin row is shared by all the
// row's heads, so after the first head it comes from L1.
#include <cstdint>

#include "gpu/kernels/launch.cuh"
#include "gpu/kernels/rope.cuh"

namespace ql::gpu {

namespace {

__device__ __forceinline__ float rot_lo(float lo, float hi, float c, float s) {
  return __fsub_rn(__fmul_rn(lo, c), __fmul_rn(hi, s));
}
__device__ __forceinline__ float rot_hi(float lo, float hi, float c, float s) {
  return __fadd_rn(__fmul_rn(hi, c), __fmul_rn(lo, s));
}

// kVec: x, cos, sin 16-byte aligned and half % 4 == 0 (so every head start and
// every cos/sin row is aligned too).
template <bool kVec>
__global__ void __launch_bounds__(256) rope_kernel(float* x, int64_t cols, const float* __restrict__ cos,
                                                   const float* __restrict__ sin, int head_dim) {
  const int64_t r = blockIdx.x;
  const int half = head_dim / 2;
  const int per_head = kVec ? half / 4 : half;  // work items per head
  const int items = static_cast<int>(cols / head_dim) * per_head;
  float* row = x + r * cols;
  const float* c = cos + r * head_dim;
  const float* s = sin + r * head_dim;
  for (int j = threadIdx.x; j < items; j += blockDim.x) {
    const int h = j / per_head;
    const int d = (j - h * per_head) * (kVec ? 4 : 1);
    float* v = row + static_cast<int64_t>(h) * head_dim;
    if (kVec) {
      const float4 lo = *reinterpret_cast<const float4*>(v + d);
      const float4 hi = *reinterpret_cast<const float4*>(v + d + half);
      const float4 cl = __ldg(reinterpret_cast<const float4*>(c + d));
      const float4 ch = __ldg(reinterpret_cast<const float4*>(c + d + half));
      const float4 sl = __ldg(reinterpret_cast<const float4*>(s + d));
      const float4 sh = __ldg(reinterpret_cast<const float4*>(s + d + half));
      float4 a, b;
      a.x = rot_lo(lo.x, hi.x, cl.x, sl.x);
      a.y = rot_lo(lo.y, hi.y, cl.y, sl.y);
      a.z = rot_lo(lo.z, hi.z, cl.z, sl.z);
      a.w = rot_lo(lo.w, hi.w, cl.w, sl.w);
      b.x = rot_hi(lo.x, hi.x, ch.x, sh.x);
      b.y = rot_hi(lo.y, hi.y, ch.y, sh.y);
      b.z = rot_hi(lo.z, hi.z, ch.z, sh.z);
      b.w = rot_hi(lo.w, hi.w, ch.w, sh.w);
      *reinterpret_cast<float4*>(v + d) = a;
      *reinterpret_cast<float4*>(v + d + half) = b;
    } else {
      const float lo = v[d], hi = v[d + half];
      v[d] = rot_lo(lo, hi, __ldg(c + d), __ldg(s + d));
      v[d + half] = rot_hi(lo, hi, __ldg(c + d + half), __ldg(s + d + half));
    }
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

cudaError_t launch_rope(float* x, int64_t rows, int64_t cols, const float* cos, const float* sin, int head_dim,
                        cudaStream_t stream) {
  if (rows < 0 || cols < 0 || head_dim <= 0 || head_dim % 2 != 0 || cols % head_dim != 0) return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (rows > 0x7fffffffLL || cols / 2 > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  const int half = head_dim / 2;
  const bool vec = half % 4 == 0 && aligned16(x) && aligned16(cos) && aligned16(sin);
  const int64_t items = (cols / head_dim) * (vec ? half / 4 : half);
  int threads = static_cast<int>(((items + 31) / 32) * 32);
  if (threads > 256) threads = 256;
  const unsigned blocks = static_cast<unsigned>(rows);
  if (vec) rope_kernel<true><<<blocks, threads, 0, stream>>>(x, cols, cos, sin, head_dim);
  else rope_kernel<false><<<blocks, threads, 0, stream>>>(x, cols, cos, sin, head_dim);
  return launch_status();
}

}  // namespace ql::gpu
