// Row movement (rows.cuh). A block of 256 threads takes up to 16 consecutive
// index entries (fewer for short lists, so that they still fill the GPU); its
// warps copy the rows (several warps per row when the block has fewer than 8,
// e.g. one decode row), float4 at a time when every row start is 16-byte
// aligned, with 4 loads in flight per thread.
//
// Scatters must match the CPU's serial loop when a target row repeats:
// before copying, each block scans the whole index array for the other
// entries that name its targets (O(n) per block, at most 264 + n / 16 blocks;
// plain int compares, small next to the row traffic for real sizes). A
// set-scatter row is skipped when a later entry has the same target (the last
// copy wins); an add-scatter row is skipped when an earlier entry has it, and
// the first one adds every later duplicate itself, in source order, the same
// thread owning the same columns throughout. No atomics on data, so results
// are deterministic.
#include <cstdint>

#include "gpu/kernels/launch.cuh"
#include "gpu/kernels/rows.cuh"
#include "gpu/kernels/weight_decode.cuh"

namespace ql::gpu {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRows = 16;  // most index entries per block (bits of a flag word)
// Fewer entries per block below this many blocks, so that short index lists
// (a decode step, 1024 image rows) still spread over the 132 SMs of an H100 / H200.
constexpr int64_t kTargetBlocks = 264;
constexpr int kBatch = 4;  // float4 loads in flight per thread

enum class Mode { kSet, kAdd, kBf16 };

__device__ __forceinline__ uint32_t bf16_bits(float f) {
  uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (bits >> 16) | 0x40u;  // quiet NaN, as ql::f32_to_bf16
  bits += 0x7fffu + ((bits >> 16) & 1u);                                // nearest even
  return bits >> 16;
}

template <Mode M>
__device__ __forceinline__ void put(void* d, int64_t c, float v) {
  if constexpr (M == Mode::kSet) {
    static_cast<float*>(d)[c] = v;
  } else if constexpr (M == Mode::kAdd) {
    float* p = static_cast<float*>(d) + c;
    *p = __fadd_rn(*p, v);
  } else {
    static_cast<uint16_t*>(d)[c] = static_cast<uint16_t>(bf16_bits(v));
  }
}

template <Mode M>
__device__ __forceinline__ void put4(void* d, int64_t q, float4 v) {
  if constexpr (M == Mode::kSet) {
    static_cast<float4*>(d)[q] = v;
  } else if constexpr (M == Mode::kAdd) {
    float4* p = static_cast<float4*>(d) + q;
    float4 a = *p;
    a.x = __fadd_rn(a.x, v.x);
    a.y = __fadd_rn(a.y, v.y);
    a.z = __fadd_rn(a.z, v.z);
    a.w = __fadd_rn(a.w, v.w);
    *p = a;
  } else {
    uint2 p;
    p.x = bf16_bits(v.x) | (bf16_bits(v.y) << 16);  // element 0 in the low half (little-endian)
    p.y = bf16_bits(v.z) | (bf16_bits(v.w) << 16);
    static_cast<uint2*>(d)[q] = p;
  }
}

// Moves one row of `cols` values from s to d; thread t of nt. The column ->
// thread mapping depends on t and nt only, so successive calls on the same d
// by the same team are ordered per element. kVec: s and d row starts aligned
// (16 bytes; 8 for bf16).
template <Mode M, bool kVec>
__device__ __forceinline__ void move_row(const float* s, void* d, int64_t cols, int t, int nt) {
  int64_t c0 = 0;
  if constexpr (kVec) {
    const int64_t nq = cols >> 2;
    const float4* s4 = reinterpret_cast<const float4*>(s);
    for (int64_t q = t; q < nq; q += kBatch * nt) {
      float4 v[kBatch];
#pragma unroll
      for (int u = 0; u < kBatch; ++u)
        if (q + u * nt < nq) v[u] = s4[q + u * nt];  // all loads before any store
#pragma unroll
      for (int u = 0; u < kBatch; ++u)
        if (q + u * nt < nq) put4<M>(d, q + u * nt, v[u]);
    }
    c0 = nq * 4;
  }
  for (int64_t c = c0 + t; c < cols; c += nt) put<M>(d, c, s[c]);
}

// The block's share of the index entries (rpb per block) and how its warps
// split them: `teams` teams of `wpr` warps, a team per entry at a time.
struct Split {
  int64_t base;
  int count;
  int team, teams, t, nt;
};

__device__ __forceinline__ Split split_block(int64_t n, int rpb) {
  Split s;
  s.base = static_cast<int64_t>(blockIdx.x) * rpb;
  const int64_t left = n - s.base;
  s.count = left < rpb ? static_cast<int>(left) : rpb;
  const int wpr = s.count >= kWarps ? 1 : kWarps / s.count;
  const int warp = threadIdx.x >> 5;
  s.teams = kWarps / wpr;
  s.team = warp / wpr;
  s.t = (warp - s.team * wpr) * 32 + (threadIdx.x & 31);
  s.nt = wpr * 32;
  return s;
}

template <Mode M, bool kVec>
__global__ void __launch_bounds__(kThreads) scatter_kernel(const float* __restrict__ src, int64_t lds,
                                                           const int32_t* __restrict__ rows, int64_t n, int64_t cols,
                                                           void* __restrict__ dst, int64_t ldd, int rpb) {
  __shared__ int32_t target[kRows];
  __shared__ unsigned flags[2];  // bit k: [0] an earlier entry, [1] a later entry names target[k]
  const Split sp = split_block(n, rpb);
  if (threadIdx.x < kRows) target[threadIdx.x] = threadIdx.x < sp.count ? rows[sp.base + threadIdx.x] : -1;
  if (threadIdx.x < 2) flags[threadIdx.x] = 0;
  __syncthreads();

  int32_t tk[kRows];  // unrolled below: registers, constant indices only
#pragma unroll
  for (int k = 0; k < kRows; ++k) tk[k] = target[k];
  unsigned earlier = 0, later = 0;
  // A set only cares about later entries; an add about both.
  const int64_t j0 = M == Mode::kAdd ? 0 : sp.base + 1;
  for (int64_t j = j0 + threadIdx.x; j < n; j += kThreads) {
    const int32_t r = rows[j];  // in range, so >= 0: never matches the -1 of an unused slot
#pragma unroll
    for (int k = 0; k < kRows; ++k) {
      if (r == tk[k]) {
        const int64_t i = sp.base + k;
        if (j < i) earlier |= 1u << k;
        if (j > i) later |= 1u << k;
      }
    }
  }
  earlier = __reduce_or_sync(0xffffffffu, earlier);
  later = __reduce_or_sync(0xffffffffu, later);
  if ((threadIdx.x & 31) == 0) {
    if (earlier) atomicOr(&flags[0], earlier);  // integer flags: order-free, deterministic
    if (later) atomicOr(&flags[1], later);
  }
  __syncthreads();

  if (sp.team >= sp.teams) return;  // no barrier below
  const unsigned skip = M == Mode::kAdd ? flags[0] : flags[1];
  const unsigned chain = M == Mode::kAdd ? flags[1] : 0u;
  const size_t elem = M == Mode::kBf16 ? 2 : 4;
  for (int k = sp.team; k < sp.count; k += sp.teams) {
    if ((skip >> k) & 1u) continue;
    const int64_t i = sp.base + k;
    const int32_t r = target[k];
    void* d = static_cast<char*>(dst) + static_cast<int64_t>(r) * ldd * elem;
    const bool has_chain = ((chain >> k) & 1u) != 0;
    for (int64_t j = i;;) {
      move_row<M, kVec>(src + j * lds, d, cols, sp.t, sp.nt);
      if (!has_chain) break;
      // The next later entry with the same target, in source order (rare).
      do ++j;
      while (j < n && rows[j] != r);
      if (j >= n) break;
    }
  }
}

template <bool kVec>
__global__ void __launch_bounds__(kThreads) gather_kernel(const float* __restrict__ src, int64_t lds,
                                                          const int32_t* __restrict__ rows, int64_t n, int64_t cols,
                                                          float* __restrict__ out, int64_t ldo, int rpb) {
  const Split sp = split_block(n, rpb);
  if (sp.team >= sp.teams) return;
  for (int k = sp.team; k < sp.count; k += sp.teams) {
    const int64_t i = sp.base + k;
    move_row<Mode::kSet, kVec>(src + static_cast<int64_t>(rows[i]) * lds, out + i * ldo, cols, sp.t, sp.nt);
  }
}

// Columns one at a time (any table format through weight_element); the
// table (a position-embedding table of a few MB) stays in L2.
__global__ void __launch_bounds__(kThreads)
    weighted_rows_kernel(DeviceWeight table, const int32_t* __restrict__ indices, const float* __restrict__ weights,
                         int64_t n, int k, float* __restrict__ out, int64_t ldo, int rpb) {
  const Split sp = split_block(n, rpb);
  if (sp.team >= sp.teams) return;
  const int64_t cols = table.cols;
  for (int e = sp.team; e < sp.count; e += sp.teams) {
    const int64_t i = sp.base + e;
    const int32_t* ix = indices + i * k;
    const float* wt = weights + i * k;
    float* o = out + i * ldo;
    for (int64_t c = sp.t; c < cols; c += sp.nt) {
      float sum = 0.0f;  // the CPU starts from 0.0f too (0 + -0 = +0)
      for (int j = 0; j < k; ++j) sum = __fadd_rn(sum, __fmul_rn(wt[j], weight_element(table, 0, ix[j], c)));
      o[c] = __fadd_rn(o[c], sum);
    }
  }
}

bool aligned(const void* p, unsigned bytes) { return (reinterpret_cast<uintptr_t>(p) & (bytes - 1)) == 0; }

bool bad_args(int64_t n, int64_t cols) { return n < 0 || cols < 0; }

// Index entries per block: kRows, or fewer when that leaves under kTargetBlocks blocks.
int rows_per_block(int64_t n) {
  const int64_t r = n / kTargetBlocks;
  return static_cast<int>(r < 1 ? 1 : (r > kRows ? kRows : r));
}

unsigned row_blocks(int64_t n, int rpb) { return static_cast<unsigned>((n + rpb - 1) / rpb); }

template <Mode M>
cudaError_t launch_scatter(const float* src, int64_t lds, const int32_t* rows, int64_t n, int64_t cols, void* dst,
                           int64_t ldd, cudaStream_t stream) {
  if (bad_args(n, cols)) return cudaErrorInvalidValue;
  if (n == 0 || cols == 0) return cudaSuccess;
  if (n / kRows + kTargetBlocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  const bool dst_ok = M == Mode::kBf16 ? aligned(dst, 8) : aligned(dst, 16);
  const bool vec = aligned(src, 16) && lds % 4 == 0 && dst_ok && ldd % 4 == 0;
  const int rpb = rows_per_block(n);
  const unsigned blocks = row_blocks(n, rpb);
  if (vec) scatter_kernel<M, true><<<blocks, kThreads, 0, stream>>>(src, lds, rows, n, cols, dst, ldd, rpb);
  else scatter_kernel<M, false><<<blocks, kThreads, 0, stream>>>(src, lds, rows, n, cols, dst, ldd, rpb);
  return launch_status();
}

}  // namespace

cudaError_t launch_scatter_rows(const float* src, int64_t lds, const int32_t* rows, int64_t n, int64_t cols,
                                float* dst, int64_t ldd, cudaStream_t stream) {
  return launch_scatter<Mode::kSet>(src, lds, rows, n, cols, dst, ldd, stream);
}

cudaError_t launch_scatter_add_rows(const float* src, int64_t lds, const int32_t* rows, int64_t n, int64_t cols,
                                    float* dst, int64_t ldd, cudaStream_t stream) {
  return launch_scatter<Mode::kAdd>(src, lds, rows, n, cols, dst, ldd, stream);
}

cudaError_t launch_scatter_rows_bf16(const float* src, int64_t lds, const int32_t* rows, int64_t n, int64_t cols,
                                     void* dst, int64_t ldd, cudaStream_t stream) {
  return launch_scatter<Mode::kBf16>(src, lds, rows, n, cols, dst, ldd, stream);
}

cudaError_t launch_gather_rows(const float* src, int64_t lds, const int32_t* rows, int64_t n, int64_t cols,
                               float* out, int64_t ldo, cudaStream_t stream) {
  if (bad_args(n, cols)) return cudaErrorInvalidValue;
  if (n == 0 || cols == 0) return cudaSuccess;
  if (n / kRows + kTargetBlocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  const bool vec = aligned(src, 16) && lds % 4 == 0 && aligned(out, 16) && ldo % 4 == 0;
  const int rpb = rows_per_block(n);
  const unsigned blocks = row_blocks(n, rpb);
  if (vec) gather_kernel<true><<<blocks, kThreads, 0, stream>>>(src, lds, rows, n, cols, out, ldo, rpb);
  else gather_kernel<false><<<blocks, kThreads, 0, stream>>>(src, lds, rows, n, cols, out, ldo, rpb);
  return launch_status();
}

cudaError_t launch_add_weighted_rows(const DeviceWeight& table, const int32_t* indices, const float* weights, int64_t n,
                                     int k, float* out, int64_t ldo, cudaStream_t stream) {
  if (n < 0 || k < 0 || table.cols < 0) return cudaErrorInvalidValue;
  if (n == 0 || table.cols == 0) return cudaSuccess;
  if (n / kRows + kTargetBlocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  const int rpb = rows_per_block(n);
  weighted_rows_kernel<<<row_blocks(n, rpb), kThreads, 0, stream>>>(table, indices, weights, n, k, out, ldo, rpb);
  return launch_status();
}

}  // namespace ql::gpu
