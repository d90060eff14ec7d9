// MoE token grouping and combine (moe_group.cuh).
//
// Grouping is a stable counting sort without atomics, in three kernels over
// chunks of 256 pairs (one block each):
//   1. count: per-warp counts of each expert (__match_any_sync: one leader per
//      distinct id writes its warp's count), summed into counts[chunk][e];
//   2. scan:  one block per expert turns counts[.][e] into exclusive prefixes
//      over the chunks, and writes the expert's total;
//   3. place: each block scans the totals (expert offsets), then a pair's slot
//      is offsets[e] + earlier chunks + earlier warps + earlier lanes of its id.
// Pair order inside an expert is therefore the pair index t*top_k + s.
#include "gpu/kernels/moe_group.cuh"

#include <climits>

#include "gpu/kernels/launch.cuh"

namespace ql::gpu {
namespace {

constexpr int kChunk = 256;  // pairs per block
constexpr int kWarps = kChunk / 32;
constexpr int kMaxExperts = 1024;  // per-warp counts + offsets fit 48 KB of shared memory

int64_t chunks_for(int64_t pairs) { return pairs <= 0 ? 1 : (pairs + kChunk - 1) / kChunk; }

__device__ __forceinline__ int clamp_id(int32_t id, int experts) {
  return id < 0 ? 0 : (id >= experts ? experts - 1 : id);
}

// Exclusive scan of one int per thread over the block; *total gets the sum.
// `warp_sums` holds 32 ints; the block must call it uniformly.
template <int kThreads>
__device__ int block_exclusive_scan(int v, int* warp_sums, int* total) {
  constexpr int kW = kThreads / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int incl = v;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const int o = __shfl_up_sync(0xffffffffu, incl, d);
    if (lane >= d) incl += o;
  }
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    int s = lane < kW ? warp_sums[lane] : 0;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
      const int o = __shfl_up_sync(0xffffffffu, s, d);
      if (lane >= d) s += o;
    }
    if (lane < kW) warp_sums[lane] = s;  // inclusive over warps
  }
  __syncthreads();
  const int before = warp > 0 ? warp_sums[warp - 1] : 0;
  *total = warp_sums[kW - 1];
  __syncthreads();  // warp_sums may be reused by the next call
  return before + incl - v;
}

// Per-warp counts of this chunk's pairs: wh[warp * experts + e]. Returns the
// lane's expert (-1 past the end) and its match mask.
__device__ __forceinline__ int warp_counts(const int32_t* ids, int64_t pairs, int experts, int* wh,
                                           unsigned* mask_out) {
  for (int i = threadIdx.x; i < kWarps * experts; i += kChunk) wh[i] = 0;
  __syncthreads();
  const int64_t p = static_cast<int64_t>(blockIdx.x) * kChunk + threadIdx.x;
  const int e = p < pairs ? clamp_id(ids[p], experts) : -1;
  const unsigned mask = __match_any_sync(0xffffffffu, e);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (e >= 0 && (__ffs(mask) - 1) == lane) wh[warp * experts + e] = __popc(mask);
  __syncthreads();
  *mask_out = mask;
  return e;
}

__global__ void __launch_bounds__(kChunk) count_kernel(const int32_t* __restrict__ ids, int64_t pairs, int experts,
                                                       int32_t* __restrict__ counts) {
  extern __shared__ int wh[];
  unsigned mask;
  warp_counts(ids, pairs, experts, wh, &mask);
  for (int e = threadIdx.x; e < experts; e += kChunk) {
    int s = 0;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) s += wh[w * experts + e];
    counts[static_cast<int64_t>(blockIdx.x) * experts + e] = s;
  }
}

// Block e: counts[c][e] -> exclusive prefix over c; totals[e] = sum.
__global__ void __launch_bounds__(256) scan_chunks_kernel(int32_t* __restrict__ counts, int64_t chunks, int experts,
                                                          int32_t* __restrict__ totals) {
  __shared__ int warp_sums[32];
  const int e = blockIdx.x;
  int carry = 0;
  for (int64_t base = 0; base < chunks; base += 256) {
    const int64_t c = base + threadIdx.x;
    const int v = c < chunks ? counts[c * experts + e] : 0;
    int total;
    const int ex = block_exclusive_scan<256>(v, warp_sums, &total);
    if (c < chunks) counts[c * experts + e] = carry + ex;
    carry += total;
  }
  if (threadIdx.x == 0) totals[e] = carry;
}

__global__ void __launch_bounds__(kChunk) place_kernel(const int32_t* __restrict__ ids, int64_t pairs, int top_k,
                                                       int experts, const int32_t* __restrict__ counts,
                                                       const int32_t* __restrict__ totals,
                                                       int32_t* __restrict__ offsets, int32_t* __restrict__ rows,
                                                       int32_t* __restrict__ pos) {
  extern __shared__ int smem[];
  int* wh = smem;                          // [kWarps][experts]
  int* off = smem + kWarps * experts;      // [experts + 1]
  __shared__ int warp_sums[32];
  // Expert offsets: exclusive scan of the totals (every block, so no extra launch).
  int carry = 0;
  for (int base = 0; base < experts; base += kChunk) {
    const int e = base + threadIdx.x;
    const int v = e < experts ? totals[e] : 0;
    int total;
    const int ex = block_exclusive_scan<kChunk>(v, warp_sums, &total);
    if (e < experts) off[e] = carry + ex;
    carry += total;
  }
  if (threadIdx.x == 0) off[experts] = carry;
  // warp_counts' first __syncthreads orders off[] before its reads below.
  unsigned mask;
  const int e = warp_counts(ids, pairs, experts, wh, &mask);
  if (blockIdx.x == 0)
    for (int i = threadIdx.x; i <= experts; i += kChunk) offsets[i] = off[i];
  if (e < 0) return;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int slot = off[e] + counts[static_cast<int64_t>(blockIdx.x) * experts + e] + __popc(mask & ((1u << lane) - 1u));
  for (int w = 0; w < warp; ++w) slot += wh[w * experts + e];
  const int64_t p = static_cast<int64_t>(blockIdx.x) * kChunk + threadIdx.x;
  rows[slot] = static_cast<int32_t>(p / top_k);
  pos[p] = slot;
}

template <bool kVec4>
__global__ void __launch_bounds__(256) combine_kernel(const float* __restrict__ y, int64_t ldy,
                                                      const int32_t* __restrict__ pos,
                                                      const float* __restrict__ weights, int64_t n, int top_k,
                                                      int64_t H, float* __restrict__ out, int64_t ldo,
                                                      bool accumulate) {
  const int64_t per = kVec4 ? 4 : 1;
  for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
    const int32_t* tp = pos + t * top_k;
    const float* tw = weights + t * top_k;
    float* o = out + t * ldo;
    for (int64_t h = threadIdx.x * per; h < H; h += static_cast<int64_t>(blockDim.x) * per) {
      if constexpr (kVec4) {
        float4 acc = accumulate ? *reinterpret_cast<const float4*>(o + h) : make_float4(0.f, 0.f, 0.f, 0.f);
        for (int s = 0; s < top_k; ++s) {
          const float wt = tw[s];
          const float4 v = *reinterpret_cast<const float4*>(y + static_cast<int64_t>(tp[s]) * ldy + h);
          acc.x = __fadd_rn(acc.x, __fmul_rn(wt, v.x));
          acc.y = __fadd_rn(acc.y, __fmul_rn(wt, v.y));
          acc.z = __fadd_rn(acc.z, __fmul_rn(wt, v.z));
          acc.w = __fadd_rn(acc.w, __fmul_rn(wt, v.w));
        }
        *reinterpret_cast<float4*>(o + h) = acc;
      } else {
        float acc = accumulate ? o[h] : 0.0f;
        for (int s = 0; s < top_k; ++s)
          acc = __fadd_rn(acc, __fmul_rn(tw[s], y[static_cast<int64_t>(tp[s]) * ldy + h]));
        o[h] = acc;
      }
    }
  }
}

}  // namespace

size_t moe_group_scratch_bytes(int64_t n, int top_k, int experts) {
  if (n < 0 || top_k < 1 || experts < 1) return 0;
  const int64_t chunks = chunks_for(n * top_k);
  const size_t counts = static_cast<size_t>(chunks) * static_cast<size_t>(experts) * sizeof(int32_t);
  const size_t counts_aligned = (counts + 255) / 256 * 256;
  return counts_aligned + static_cast<size_t>(experts) * sizeof(int32_t);
}

cudaError_t launch_moe_group(const int32_t* ids, int64_t n, int top_k, int experts, int32_t* offsets, int32_t* rows,
                             int32_t* pos, void* scratch, cudaStream_t stream) {
  if (n < 0 || top_k < 1 || experts < 1 || experts > kMaxExperts || !offsets || !scratch ||
      n * top_k > INT_MAX || (n > 0 && (!ids || !rows || !pos)))
    return cudaErrorInvalidValue;
  const int64_t pairs = n * top_k;
  const int64_t chunks = chunks_for(pairs);
  if (chunks > INT_MAX) return cudaErrorInvalidValue;
  auto* counts = static_cast<int32_t*>(scratch);
  const size_t counts_bytes = static_cast<size_t>(chunks) * static_cast<size_t>(experts) * sizeof(int32_t);
  auto* totals = reinterpret_cast<int32_t*>(static_cast<char*>(scratch) + (counts_bytes + 255) / 256 * 256);
  const size_t wh_bytes = static_cast<size_t>(kWarps) * experts * sizeof(int);
  count_kernel<<<static_cast<unsigned>(chunks), kChunk, wh_bytes, stream>>>(ids, pairs, experts, counts);
  scan_chunks_kernel<<<static_cast<unsigned>(experts), 256, 0, stream>>>(counts, chunks, experts, totals);
  place_kernel<<<static_cast<unsigned>(chunks), kChunk, wh_bytes + (experts + 1) * sizeof(int), stream>>>(
      ids, pairs, top_k, experts, counts, totals, offsets, rows, pos);
  return launch_status();
}

cudaError_t launch_moe_combine(const float* y, int64_t ldy, const int32_t* pos, const float* weights, int64_t n,
                               int top_k, int64_t H, float* out, int64_t ldo, bool accumulate, cudaStream_t stream) {
  if (n == 0 || H == 0) return launch_status();
  if (n < 0 || H < 0 || top_k < 1 || !y || !pos || !weights || !out || ldo < H || ldy < H)
    return cudaErrorInvalidValue;
  const bool vec = H % 4 == 0 && ldy % 4 == 0 && ldo % 4 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(out) % 16 == 0;
  const unsigned grid = static_cast<unsigned>(n < (1 << 20) ? n : (1 << 20));
  if (vec)
    combine_kernel<true><<<grid, 256, 0, stream>>>(y, ldy, pos, weights, n, top_k, H, out, ldo, accumulate);
  else
    combine_kernel<false><<<grid, 256, 0, stream>>>(y, ldy, pos, weights, n, top_k, H, out, ldo, accumulate);
  return launch_status();
}

}  // namespace ql::gpu
