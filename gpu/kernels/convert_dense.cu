// Dense conversion while loading (convert_dense.cuh). Bit-exact with
// core/quant/dense16.cpp: every value is widened to fp32 exactly, then
// rounded to the target with the formulas of core/common/float16.h.
#include "gpu/kernels/convert_dense.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu/kernels/launch.cuh"

namespace ql::gpu {
namespace {

using qsrc::load;
using qsrc::load8;
using qsrc::nonfinite;

// f32_to_bf16 of float16.h, bit for bit (NaN keeps its top bits and is made quiet).
__device__ __forceinline__ uint16_t to_bf16_bits(float f) {
  uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// f32_to_f16 of float16.h: IEEE round-to-nearest-even (what cvt.rn.f16.f32 does, >= 65520 -> inf, subnormals
// rounded, fp32 subnormals -> signed zero) except NaN, which float16.h writes as sign | 0x7e00.
__device__ __forceinline__ uint16_t to_f16_bits(float f) {
  const uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>(((bits >> 16) & 0x8000u) | 0x7e00u);
  return __half_as_ushort(__float2half_rn(f));
}

// Target traits. kTarget: 0 fp32, 1 bf16, 2 fp16.
template <int kTarget>
struct Dst {
  using Out = uint16_t;
  static constexpr uint16_t kExpMask = kTarget == 2 ? 0x7c00u : 0x7f80u;
  static __device__ __forceinline__ uint16_t encode(float v) { return kTarget == 2 ? to_f16_bits(v) : to_bf16_bits(v); }
};
template <>
struct Dst<0> {
  using Out = float;
  static __device__ __forceinline__ float encode(float v) { return v; }
};

// What dense16.cpp counts for one element: only finite non-zero sources can lose (a non-finite one is an error).
struct Counts {
  uint32_t overflowed = 0, flushed = 0, subnormal = 0;
};

template <int kTarget>
__device__ __forceinline__ void count(float v, typename Dst<kTarget>::Out h, Counts& c) {
  if constexpr (kTarget != 0) {
    if (v == 0.0f || nonfinite(v)) return;
    const uint16_t a = static_cast<uint16_t>(h & 0x7fffu);
    c.overflowed += a == Dst<kTarget>::kExpMask;
    c.flushed += a == 0;
    c.subnormal += (h & Dst<kTarget>::kExpMask) == 0 && a != 0;
  }
}

// End of every kernel: all threads of the block arrive (no early return), so whole-warp reductions are safe.
template <int kTarget>
__device__ __forceinline__ void flush_report(unsigned long long bad, const Counts& c, QuantizeProblems* problems) {
  qsrc::report_min(&problems->first_nonfinite, bad);
  if constexpr (kTarget != 0) {
    const uint32_t o = __reduce_add_sync(0xffffffffu, c.overflowed);
    const uint32_t f = __reduce_add_sync(0xffffffffu, c.flushed);
    const uint32_t s = __reduce_add_sync(0xffffffffu, c.subnormal);
    if ((threadIdx.x & 31) == 0) {
      if (o) atomicAdd(&problems->overflowed_to_inf, static_cast<unsigned long long>(o));
      if (f) atomicAdd(&problems->flushed_to_zero, static_cast<unsigned long long>(f));
      if (s) atomicAdd(&problems->became_subnormal, static_cast<unsigned long long>(s));
    }
  }
}

template <int kTarget>
__device__ __forceinline__ void store8(typename Dst<kTarget>::Out* out, int64_t elem, const typename Dst<kTarget>::Out (&h)[8]) {
  if constexpr (kTarget == 0) {
    float4* p = reinterpret_cast<float4*>(out + elem);
    p[0] = make_float4(h[0], h[1], h[2], h[3]);
    p[1] = make_float4(h[4], h[5], h[6], h[7]);
  } else {
    uint4 q;
    q.x = h[0] | (static_cast<uint32_t>(h[1]) << 16);
    q.y = h[2] | (static_cast<uint32_t>(h[3]) << 16);
    q.z = h[4] | (static_cast<uint32_t>(h[5]) << 16);
    q.w = h[6] | (static_cast<uint32_t>(h[7]) << 16);
    *reinterpret_cast<uint4*>(out + elem) = q;
  }
}

// Not transposed: stored order is output order, so the whole stack is one flat array. 8 elements per step with
// 16-byte loads and stores (source and out 16-byte aligned); the n % 8 tail by the first threads.
template <SourceType S, int kTarget>
__global__ void __launch_bounds__(256) convert_flat_vec(const void* src, typename Dst<kTarget>::Out* out, int64_t n,
                                                        QuantizeProblems* problems) {
  using Out = typename Dst<kTarget>::Out;
  const int64_t nvec = n / 8;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  unsigned long long bad = kNoProblem;
  Counts c;
  for (int64_t v = tid; v < nvec; v += stride) {
    float x[8];
    load8<S>(src, v * 8, x);
    Out h[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      h[k] = Dst<kTarget>::encode(x[k]);
      count<kTarget>(x[k], h[k], c);
      if (nonfinite(x[k]) && bad == kNoProblem) bad = static_cast<unsigned long long>(v * 8 + k);
    }
    store8<kTarget>(out, v * 8, h);
  }
  const int64_t tail = nvec * 8 + tid;
  if (tail < n) {
    const float x = load<S>(src, tail, false);
    const Out h = Dst<kTarget>::encode(x);
    out[tail] = h;
    count<kTarget>(x, h, c);
    if (nonfinite(x) && bad == kNoProblem) bad = static_cast<unsigned long long>(tail);
  }
  flush_report<kTarget>(bad, c, problems);
}

// Any alignment (bytewise: the source is not even element-aligned).
template <SourceType S, int kTarget>
__global__ void __launch_bounds__(256) convert_flat_scalar(const void* src, bool bytewise,
                                                           typename Dst<kTarget>::Out* out, int64_t n,
                                                           QuantizeProblems* problems) {
  using Out = typename Dst<kTarget>::Out;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  unsigned long long bad = kNoProblem;
  Counts c;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float x = load<S>(src, i, bytewise);
    const Out h = Dst<kTarget>::encode(x);
    out[i] = h;
    count<kTarget>(x, h, c);
    if (nonfinite(x) && bad == kNoProblem) bad = static_cast<unsigned long long>(i);
  }
  flush_report<kTarget>(bad, c, problems);
}

constexpr int kTile = 64;

// Transposed: 64x64 tiles through shared memory. Loads run along the stored rows (lanes on r), stores along the
// output rows (lanes on c); the padded row (65) keeps both phases free of bank conflicts.
template <SourceType S, int kTarget>
__global__ void __launch_bounds__(256) convert_transposed(SourceMatrices src, bool bytewise,
                                                          typename Dst<kTarget>::Out* out,
                                                          QuantizeProblems* problems) {
  using Out = typename Dst<kTarget>::Out;
  __shared__ float tile[kTile][kTile + 1];  // [c - c0][r - r0]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t rows = src.rows, cols = src.cols, numel = rows * cols;
  const int64_t rt = (rows + kTile - 1) / kTile, ct = (cols + kTile - 1) / kTile;
  const int64_t tiles = src.stack * rt * ct;
  unsigned long long bad = kNoProblem;
  Counts cnt;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t m = t / (rt * ct), rem = t % (rt * ct);
    const int64_t r0 = (rem / ct) * kTile, c0 = (rem % ct) * kTile;
#pragma unroll
    for (int i = 0; i < kTile / 8; ++i) {
      const int cc = warp + 8 * i;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int rr = lane + 32 * h;
        float v = 0.0f;
        if (c0 + cc < cols && r0 + rr < rows) {
          const int64_t idx = m * numel + (c0 + cc) * rows + (r0 + rr);
          v = load<S>(src.data, idx, bytewise);
          if (nonfinite(v) && static_cast<unsigned long long>(idx) < bad) bad = static_cast<unsigned long long>(idx);
        }
        tile[cc][rr] = v;
      }
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kTile / 8; ++i) {
      const int rr = warp + 8 * i;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int cc = lane + 32 * h;
        if (r0 + rr < rows && c0 + cc < cols) {
          const float v = tile[cc][rr];
          const Out o = Dst<kTarget>::encode(v);
          out[m * numel + (r0 + rr) * cols + (c0 + cc)] = o;
          count<kTarget>(v, o, cnt);
        }
      }
    }
    __syncthreads();  // the next tile overwrites `tile`
  }
  flush_report<kTarget>(bad, cnt, problems);
}

bool aligned(const void* p, uintptr_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

template <SourceType S, int kTarget>
cudaError_t launch_typed(const SourceMatrices& src, void* out_raw, QuantizeProblems* problems, cudaStream_t stream) {
  using Out = typename Dst<kTarget>::Out;
  Out* out = static_cast<Out*>(out_raw);
  const int64_t es = source_element_bytes(S);
  const bool bytewise = !aligned(src.data, static_cast<uintptr_t>(es));
  const int64_t n = src.rows * src.cols * src.stack;
  if (src.transposed) {
    const int64_t tiles = src.stack * ((src.rows + kTile - 1) / kTile) * ((src.cols + kTile - 1) / kTile);
    const unsigned grid = static_cast<unsigned>(tiles < (1LL << 24) ? tiles : (1LL << 24));
    convert_transposed<S, kTarget><<<grid, 256, 0, stream>>>(src, bytewise, out, problems);
  } else if (aligned(src.data, 16) && aligned(out, 16)) {
    // Grid-stride with a capped grid: a thread's counts then stay far below 2^32.
    const unsigned grid = blocks_for((n / 8) > 0 ? n / 8 : 1, 256, 132LL * 64);
    convert_flat_vec<S, kTarget><<<grid, 256, 0, stream>>>(src.data, out, n, problems);
  } else {
    const unsigned grid = blocks_for(n, 256, 132LL * 64);
    convert_flat_scalar<S, kTarget><<<grid, 256, 0, stream>>>(src.data, bytewise, out, n, problems);
  }
  return launch_status();
}

template <SourceType S>
cudaError_t launch_for_source(const SourceMatrices& src, int32_t target, void* out, QuantizeProblems* problems,
                              cudaStream_t stream) {
  switch (target) {
    case 0: return launch_typed<S, 0>(src, out, problems, stream);
    case 1: return launch_typed<S, 1>(src, out, problems, stream);
    case 2: return launch_typed<S, 2>(src, out, problems, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_convert_dense(const SourceMatrices& src, int32_t target, void* out, QuantizeProblems* problems,
                                 cudaStream_t stream) {
  if (src.data == nullptr || out == nullptr || problems == nullptr || src.rows <= 0 || src.cols <= 0 ||
      src.stack <= 0 || target < 0 || target > 2) {
    return cudaErrorInvalidValue;
  }
  if (!aligned(out, target == 0 ? 4 : 2)) return cudaErrorMisalignedAddress;
  switch (src.type) {
    case SourceType::kF32: return launch_for_source<SourceType::kF32>(src, target, out, problems, stream);
    case SourceType::kBF16: return launch_for_source<SourceType::kBF16>(src, target, out, problems, stream);
    case SourceType::kF16: return launch_for_source<SourceType::kF16>(src, target, out, problems, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ql::gpu
