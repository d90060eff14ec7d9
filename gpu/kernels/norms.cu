// RMSNorm and LayerNorm (norms.cuh). One team of threads per group: a few
// lanes of a warp for short groups (head_dim 8..128, the tiny models' rows), a
// warp for long groups when there are many of them, a whole block of 256 for
// long groups when there are few (a decode row of 2048 is one block).
// Statistics in double, as core/backend/cpu_norms.cpp: squares of fp32 values
// are exact in double, so the sums differ from the CPU's serial loop only by
// the order of the double additions (per-thread partial sums, then a butterfly
// / fixed-order block tree). Every per-element
// step after the statistics is the CPU's, rounding for rounding (explicit _rn
// intrinsics: nvcc would otherwise contract a*b+c into an FMA).
#include <cstdint>

#include "gpu/kernels/launch.cuh"
#include "gpu/kernels/norms.cuh"
#include "gpu/kernels/weight_decode.cuh"

namespace ql::gpu {

namespace {

constexpr int kThreads = 256;         // threads per block, both kernels
// A whole block per group only for long groups that are few (decode rows):
// then one group's latency is the whole op and 256 threads hide it better than
// 32. With many groups (prefill, the vision tower) a warp per group keeps
// every SM busy without block barriers.
constexpr int64_t kBlockGroup = 1024;
constexpr int64_t kManyGroups = 2048;

// Lanes [k*T, k*T + T) of one warp. Every lane of the warp must call sum()
// (inactive teams too): the shuffles name the full warp. The butterfly gives
// every lane the same bits (a + b == b + a at each step).
template <int T>
struct WarpTeam {
  static __device__ __forceinline__ double sum(double v, double* /*smem*/) {
#pragma unroll
    for (int off = T / 2; off > 0; off >>= 1) v = __dadd_rn(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
  }
};

// The whole block (kThreads). Warp sums, then every thread adds the warp sums
// in the same fixed order (same bits everywhere, no broadcast needed). The
// trailing barrier lets the next call reuse smem.
struct BlockTeam {
  static __device__ __forceinline__ double sum(double v, double* smem) {
    v = WarpTeam<32>::sum(v, nullptr);
    if ((threadIdx.x & 31) == 0) smem[threadIdx.x >> 5] = v;
    __syncthreads();
    double s = 0.0;
#pragma unroll
    for (int i = 0; i < kThreads / 32; ++i) s = __dadd_rn(s, smem[i]);
    __syncthreads();
    return s;
  }
};

__device__ __forceinline__ double add_sq(double acc, float x) {
  const double d = x;
  return __dadd_rn(acc, __dmul_rn(d, d));  // the product is exact in double
}

__device__ __forceinline__ float vec_w(const DeviceWeight& w, int64_t c) { return weight_element(w, 0, 0, c); }

// Elements c..c+3 of a vector weight: one 16-byte (fp32) or 8-byte (bf16/f16)
// load when aligned, else weight_element each; the same values either way.
__device__ __forceinline__ float4 vec_w4(const DeviceWeight& w, int64_t c) {
  const int64_t i = w.stored_index(0, c);
  const uintptr_t esize = w.format == WFormat::kF32 ? 4u : 2u;  // only read for the dense formats
  const uintptr_t a = reinterpret_cast<uintptr_t>(w.data) + static_cast<uintptr_t>(i) * esize;
  float4 r;
  if (w.format == WFormat::kF32 && (a & 15u) == 0) {
    r = __ldg(reinterpret_cast<const float4*>(a));
  } else if (w.format == WFormat::kBF16 && (a & 7u) == 0) {
    const uint2 u = __ldg(reinterpret_cast<const uint2*>(a));
    r = make_float4(__uint_as_float(u.x << 16), __uint_as_float(u.x & 0xffff0000u), __uint_as_float(u.y << 16),
                    __uint_as_float(u.y & 0xffff0000u));
  } else if (w.format == WFormat::kF16 && (a & 7u) == 0) {
    const uint2 u = __ldg(reinterpret_cast<const uint2*>(a));
    r = make_float4(__half2float(__ushort_as_half(static_cast<unsigned short>(u.x & 0xffffu))),
                    __half2float(__ushort_as_half(static_cast<unsigned short>(u.x >> 16))),
                    __half2float(__ushort_as_half(static_cast<unsigned short>(u.y & 0xffffu))),
                    __half2float(__ushort_as_half(static_cast<unsigned short>(u.y >> 16))));
  } else {
    r = make_float4(weight_element(w, 0, 0, c), weight_element(w, 0, 0, c + 1), weight_element(w, 0, 0, c + 2),
                    weight_element(w, 0, 0, c + 3));
  }
  return r;
}

// One group of `n` elements at in/o, thread t of nt. Inactive teams (past the
// last group) only join the reduction. kVec: in and o 16-byte aligned, n % 4 == 0.
template <bool kVec, class Team>
__device__ __forceinline__ void rms_group(const float* in, float* o, int64_t n, const DeviceWeight& w, float eps,
                                          int t, int nt, bool active, double* smem) {
  double ss = 0.0;
  if (active) {
    if (kVec) {
      const float4* in4 = reinterpret_cast<const float4*>(in);
#pragma unroll 4
      for (int64_t q = t; q < (n >> 2); q += nt) {
        const float4 v = in4[q];
        ss = add_sq(add_sq(add_sq(add_sq(ss, v.x), v.y), v.z), v.w);
      }
    } else {
#pragma unroll 4
      for (int64_t i = t; i < n; i += nt) ss = add_sq(ss, in[i]);
    }
  }
  ss = Team::sum(ss, smem);
  if (!active) return;
  // inv = fp32(1 / sqrt(sum_sq / group + eps)), every step IEEE-rounded as on the CPU.
  const float inv =
      __double2float_rn(__ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(__ddiv_rn(ss, static_cast<double>(n)),
                                                             static_cast<double>(eps)))));
  // o = w * (x * inv). Each element is read and written by the same thread
  // after the reduction, so o may alias in.
  if (kVec) {
    const float4* in4 = reinterpret_cast<const float4*>(in);
    float4* o4 = reinterpret_cast<float4*>(o);
#pragma unroll 4
    for (int64_t q = t; q < (n >> 2); q += nt) {
      const float4 v = in4[q];
      const float4 wv = vec_w4(w, q * 4);
      float4 r;
      r.x = __fmul_rn(wv.x, __fmul_rn(v.x, inv));
      r.y = __fmul_rn(wv.y, __fmul_rn(v.y, inv));
      r.z = __fmul_rn(wv.z, __fmul_rn(v.z, inv));
      r.w = __fmul_rn(wv.w, __fmul_rn(v.w, inv));
      o4[q] = r;
    }
  } else {
#pragma unroll 4
    for (int64_t i = t; i < n; i += nt) o[i] = __fmul_rn(vec_w(w, i), __fmul_rn(in[i], inv));
  }
}

__device__ __forceinline__ float ln_out(float x, double mean, double inv, float w, float b) {
  // fp32((x - mean) * inv) * w + b: double sub and mul, one rounding to fp32,
  // then an fp32 multiply and an fp32 add (no FMA), as the CPU.
  const float y = __double2float_rn(__dmul_rn(__dsub_rn(static_cast<double>(x), mean), inv));
  return __fadd_rn(__fmul_rn(y, w), b);
}

__device__ __forceinline__ double add_dev_sq(double acc, float x, double mean) {
  const double d = __dsub_rn(static_cast<double>(x), mean);
  return __dadd_rn(acc, __dmul_rn(d, d));
}

// kUnroll: of the output loop (2 for the block kernel, where 4 makes ptxas spill).
template <bool kVec, class Team, int kUnroll>
__device__ __forceinline__ void ln_group(const float* in, float* o, int64_t n, const DeviceWeight& w,
                                         const DeviceWeight& b, float eps, int t, int nt, bool active,
                                         double* smem) {
  const float4* in4 = reinterpret_cast<const float4*>(in);
  // Pass 1: the mean.
  double s = 0.0;
  if (active) {
    if (kVec) {
#pragma unroll 4
      for (int64_t q = t; q < (n >> 2); q += nt) {
        const float4 v = in4[q];
        s = __dadd_rn(__dadd_rn(__dadd_rn(__dadd_rn(s, v.x), v.y), v.z), v.w);
      }
    } else {
#pragma unroll 4
      for (int64_t i = t; i < n; i += nt) s = __dadd_rn(s, static_cast<double>(in[i]));
    }
  }
  s = Team::sum(s, smem);
  const double mean = __ddiv_rn(s, static_cast<double>(n));
  // Pass 2: the biased variance around that mean (the row is re-read from L1/L2).
  double ss = 0.0;
  if (active) {
    if (kVec) {
#pragma unroll 4
      for (int64_t q = t; q < (n >> 2); q += nt) {
        const float4 v = in4[q];
        ss = add_dev_sq(add_dev_sq(add_dev_sq(add_dev_sq(ss, v.x, mean), v.y, mean), v.z, mean), v.w, mean);
      }
    } else {
#pragma unroll 4
      for (int64_t i = t; i < n; i += nt) ss = add_dev_sq(ss, in[i], mean);
    }
  }
  ss = Team::sum(ss, smem);
  if (!active) return;
  const double var = __ddiv_rn(ss, static_cast<double>(n));
  const double inv = __ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(var, static_cast<double>(eps))));
  // Pass 3: write; same thread reads then writes each element (o may alias in).
  if (kVec) {
    float4* o4 = reinterpret_cast<float4*>(o);
#pragma unroll kUnroll
    for (int64_t q = t; q < (n >> 2); q += nt) {
      const float4 v = in4[q];
      const float4 wv = vec_w4(w, q * 4);
      const float4 bv = vec_w4(b, q * 4);
      float4 r;
      r.x = ln_out(v.x, mean, inv, wv.x, bv.x);
      r.y = ln_out(v.y, mean, inv, wv.y, bv.y);
      r.z = ln_out(v.z, mean, inv, wv.z, bv.z);
      r.w = ln_out(v.w, mean, inv, wv.w, bv.w);
      o4[q] = r;
    }
  } else {
#pragma unroll 4
    for (int64_t i = t; i < n; i += nt) o[i] = ln_out(in[i], mean, inv, vec_w(w, i), vec_w(b, i));
  }
}

// Team kernels: T lanes per group, kThreads / T groups per block.
template <int T, bool kVec>
__global__ void __launch_bounds__(kThreads) rms_team_kernel(const float* x, float* out, int64_t groups,
                                                            int64_t group, DeviceWeight w, float eps) {
  const int64_t g = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) / T;
  const bool active = g < groups;
  const int64_t off = active ? g * group : 0;
  rms_group<kVec, WarpTeam<T>>(x + off, out + off, group, w, eps, threadIdx.x & (T - 1), T, active, nullptr);
}

template <bool kVec>
__global__ void __launch_bounds__(kThreads) rms_block_kernel(const float* x, float* out, int64_t group,
                                                             DeviceWeight w, float eps) {
  __shared__ double smem[kThreads / 32];
  const int64_t off = static_cast<int64_t>(blockIdx.x) * group;
  rms_group<kVec, BlockTeam>(x + off, out + off, group, w, eps, threadIdx.x, kThreads, true, smem);
}

template <int T, bool kVec>
__global__ void __launch_bounds__(kThreads) ln_team_kernel(const float* x, float* out, int64_t rows, int64_t cols,
                                                           DeviceWeight w, DeviceWeight b, float eps) {
  const int64_t r = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) / T;
  const bool active = r < rows;
  const int64_t off = active ? r * cols : 0;
  ln_group<kVec, WarpTeam<T>, 4>(x + off, out + off, cols, w, b, eps, threadIdx.x & (T - 1), T, active, nullptr);
}

template <bool kVec>
__global__ void __launch_bounds__(kThreads) ln_block_kernel(const float* x, float* out, int64_t cols,
                                                            DeviceWeight w, DeviceWeight b, float eps) {
  __shared__ double smem[kThreads / 32];
  const int64_t off = static_cast<int64_t>(blockIdx.x) * cols;
  ln_group<kVec, BlockTeam, 2>(x + off, out + off, cols, w, b, eps, threadIdx.x, kThreads, true, smem);
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Lanes per group for the team kernels: about 4 elements per lane, 4..32.
int team_lanes(int64_t n) {
  const int64_t per = (n + 3) / 4;
  int t = 4;
  while (t < 32 && t < per) t <<= 1;
  return t;
}

unsigned team_blocks(int64_t groups, int t) {
  return static_cast<unsigned>((groups * t + kThreads - 1) / kThreads);
}

template <bool kVec>
void rms_team(int t, const float* x, float* out, int64_t groups, int64_t group, const DeviceWeight& w, float eps,
              cudaStream_t s) {
  const unsigned blocks = team_blocks(groups, t);
  switch (t) {
    case 4: rms_team_kernel<4, kVec><<<blocks, kThreads, 0, s>>>(x, out, groups, group, w, eps); break;
    case 8: rms_team_kernel<8, kVec><<<blocks, kThreads, 0, s>>>(x, out, groups, group, w, eps); break;
    case 16: rms_team_kernel<16, kVec><<<blocks, kThreads, 0, s>>>(x, out, groups, group, w, eps); break;
    default: rms_team_kernel<32, kVec><<<blocks, kThreads, 0, s>>>(x, out, groups, group, w, eps); break;
  }
}

template <bool kVec>
void ln_team(int t, const float* x, float* out, int64_t rows, int64_t cols, const DeviceWeight& w,
             const DeviceWeight& b, float eps, cudaStream_t s) {
  const unsigned blocks = team_blocks(rows, t);
  switch (t) {
    case 4: ln_team_kernel<4, kVec><<<blocks, kThreads, 0, s>>>(x, out, rows, cols, w, b, eps); break;
    case 8: ln_team_kernel<8, kVec><<<blocks, kThreads, 0, s>>>(x, out, rows, cols, w, b, eps); break;
    case 16: ln_team_kernel<16, kVec><<<blocks, kThreads, 0, s>>>(x, out, rows, cols, w, b, eps); break;
    default: ln_team_kernel<32, kVec><<<blocks, kThreads, 0, s>>>(x, out, rows, cols, w, b, eps); break;
  }
}

}  // namespace

cudaError_t launch_rms_norm(const float* x, int64_t rows, int64_t cols, int64_t group, const DeviceWeight& w,
                            float eps, float* out, cudaStream_t stream) {
  if (rows < 0 || cols < 0 || group <= 0 || cols % group != 0) return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0) return cudaSuccess;
  const int64_t groups = rows * (cols / group);
  const bool vec = group % 4 == 0 && aligned16(x) && aligned16(out);
  if (group >= kBlockGroup && groups < kManyGroups) {
    const unsigned blocks = static_cast<unsigned>(groups);
    if (vec) rms_block_kernel<true><<<blocks, kThreads, 0, stream>>>(x, out, group, w, eps);
    else rms_block_kernel<false><<<blocks, kThreads, 0, stream>>>(x, out, group, w, eps);
  } else {
    const int t = team_lanes(group);
    if ((groups * t + kThreads - 1) / kThreads > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
    if (vec) rms_team<true>(t, x, out, groups, group, w, eps, stream);
    else rms_team<false>(t, x, out, groups, group, w, eps, stream);
  }
  return launch_status();
}

cudaError_t launch_layer_norm(const float* x, int64_t rows, int64_t cols, const DeviceWeight& w,
                              const DeviceWeight& b, float eps, float* out, cudaStream_t stream) {
  if (rows < 0 || cols < 0) return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0) return cudaSuccess;
  const bool vec = cols % 4 == 0 && aligned16(x) && aligned16(out);
  if (cols >= kBlockGroup && rows < kManyGroups) {
    const unsigned blocks = static_cast<unsigned>(rows);
    if (vec) ln_block_kernel<true><<<blocks, kThreads, 0, stream>>>(x, out, cols, w, b, eps);
    else ln_block_kernel<false><<<blocks, kThreads, 0, stream>>>(x, out, cols, w, b, eps);
  } else {
    const int t = team_lanes(cols);
    if ((rows * t + kThreads - 1) / kThreads > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
    if (vec) ln_team<true>(t, x, out, rows, cols, w, b, eps, stream);
    else ln_team<false>(t, x, out, rows, cols, w, b, eps, stream);
  }
  return launch_status();
}

}  // namespace ql::gpu
