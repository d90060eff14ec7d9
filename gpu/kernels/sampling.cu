// Sampling on the GPU (docs/gpu-backend.md, "Sampling"): one cooperative
// kernel whose blocks each own a contiguous chunk of the vocabulary, kept in
// shared memory as order-preserving 32-bit keys, and meet at grid barriers
// between the stages a setting needs. Which stages run is decided on the device
// from SamplingInputs, identically in every block, so one launch sequence (a
// memset of the control words, then the kernel) serves every setting.
//
//   greedy       one pass: per-block first maximum, the last block to finish
//                reduces them (no barrier).
//   top-k        radix select over 11/11/10-bit digits (global histograms);
//                as soon as the tokens >= the selected bin are <= kSmallCap,
//                they are gathered and block 0 finishes alone: sorts them by
//                (logit desc, id asc), cuts at the k-th, then top-p, min-p and
//                the draw with sums by one thread in the CPU's order.
//   no top-k, vocab <= kSmallCap: block 0 finishes alone the same way.
//   otherwise    (large candidate sets) top-p sorts the whole vocabulary
//                (stable LSD radix sort, 4 passes of 8 bits), then top-p's cut
//                and the draw are parallel prefix sums in double with an error
//                bound; if any partial sum lies within the bound of its
//                threshold, block 0 redoes that cut sequentially in the CPU's
//                order (rare: ~1e-5 of the draws on a flat distribution).
#include "gpu/kernels/sampling.cuh"

#include <climits>
#include <cmath>
#include <cstdint>
#include <mutex>

#include <cuda_runtime.h>

#include "gpu/kernels/launch.cuh"

namespace ql::gpu {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kSmallCap = 2048;        // candidates block 0 finishes alone (power of 2)
constexpr int kMaxBlocks = 1024;       // = 2 * kThreads (the partial-sum scan takes 2 per thread)
constexpr int64_t kMinChunk = 1024;    // tokens per block at least
constexpr int64_t kMaxChunk = 8192;    // tokens per block at most (shared memory)
constexpr unsigned kFull = 0xffffffffu;
constexpr int kHistBins = 2048;

static_assert(kMaxBlocks == 2 * kThreads, "partial sums: two per thread");
static_assert(kSmallCap % kThreads == 0 && (kSmallCap & (kSmallCap - 1)) == 0, "small cap");

// Zeroed by a memset before every launch.
struct Ctrl {
  unsigned bar_count;
  unsigned bar_gen;
  unsigned ticket;
  unsigned cand_count;
  int amb_p;        // top-p cut: some partial sum within the error bound
  int found_p;      // 0 = none, else n - first index (atomicMax = first)
  int found_p_seq;  // the same, from the sequential fallback
  int amb_d;        // draw: the same three
  int found_d;
  int last_d;       // 1 + largest surviving id
  int pad[2];
  unsigned hist[3][kHistBins];
};

struct Args {
  const float* logits;
  const SamplingInputs* params;
  int32_t* seen;
  int32_t* token;
  int vocab;
  int chunk;
  Ctrl* ctrl;
  float* part_val;
  int* part_idx;
  double* part_sum;
  unsigned* table;  // [256][gridDim.x] digit counts, then their exclusive scan
  unsigned* tot;    // [256]
  unsigned* keys;   // [vocab] working keys in token order
  unsigned* cand_key;
  int* cand_id;     // [kSmallCap]
  unsigned* a_key;
  int* a_id;
  unsigned* b_key;
  int* b_id;        // [vocab] sort ping-pong; sorted result in b
};

struct SelOut {
  int g;
  unsigned above;
  unsigned h;
};

struct Misc {
  unsigned ubuf[kWarps];
  int ibuf[kWarps];
  double dbuf[kWarps];
  float am_v[kWarps];
  int am_i[kWarps];
  SelOut sel;
  double dval;
  int ival;
  int ival2;
  unsigned uval;
};

// ---- small helpers ----------------------------------------------------------

// Order-preserving key: a larger float gives a larger key (-0 is made +0 first).
__device__ __forceinline__ unsigned f2key(float f) {
  const unsigned u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float key2f(unsigned k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}
// exp(logit - max) in double, as the CPU computes every weight.
__device__ __forceinline__ double weight_of(unsigned key, double gmax) {
  return exp(static_cast<double>(key2f(key)) - gmax);
}

// First maximum: higher value, then lower index.
__device__ __forceinline__ void am_combine(float& v, int& i, float v2, int i2) {
  if (v2 > v || (v2 == v && i2 < i)) {
    v = v2;
    i = i2;
  }
}

template <typename T>
__device__ __forceinline__ T warp_incl_scan(T x) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const T y = __shfl_up_sync(kFull, x, o);
    if (lane >= o) x += y;
  }
  return x;
}

// Exclusive scan over the block in thread order, with the total. Every partial
// result is a sum of exactly the preceding terms (a fixed tree), so for doubles
// it is deterministic and within the usual summation error bound. All threads
// must call it.
template <typename T>
__device__ T block_excl_scan(T x, T* wbuf, T* total) {
  const int lane = threadIdx.x & 31;
  const int wid = threadIdx.x >> 5;
  const T incl = warp_incl_scan(x);
  T excl = __shfl_up_sync(kFull, incl, 1);
  if (lane == 0) excl = T(0);
  if (lane == 31) wbuf[wid] = incl;
  __syncthreads();
  if (wid == 0) {
    const T v = lane < kWarps ? wbuf[lane] : T(0);
    const T vi = warp_incl_scan(v);
    __syncwarp();
    if (lane < kWarps) wbuf[lane] = vi;
  }
  __syncthreads();
  const T prefix = wid > 0 ? wbuf[wid - 1] : T(0);
  if (total) *total = wbuf[kWarps - 1];
  __syncthreads();
  return wid > 0 ? prefix + excl : excl;
}

__device__ int block_sum_int(int x, Misc& sh) {
  unsigned total;
  block_excl_scan<unsigned>(static_cast<unsigned>(x), sh.ubuf, &total);
  return static_cast<int>(total);
}

__device__ int block_min_int(int x, Misc& sh) {
  x = __reduce_min_sync(kFull, x);
  if ((threadIdx.x & 31) == 0) sh.ibuf[threadIdx.x >> 5] = x;
  __syncthreads();
  int m = INT_MAX;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) m = min(m, sh.ibuf[w]);
  __syncthreads();
  return m;
}

__device__ int block_max_int(int x, Misc& sh) {
  x = __reduce_max_sync(kFull, x);
  if ((threadIdx.x & 31) == 0) sh.ibuf[threadIdx.x >> 5] = x;
  __syncthreads();
  int m = INT_MIN;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) m = max(m, sh.ibuf[w]);
  __syncthreads();
  return m;
}

// First maximum over the block; every thread gets it.
__device__ void block_argmax(float& v, int& i, Misc& sh) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float v2 = __shfl_xor_sync(kFull, v, o);
    const int i2 = __shfl_xor_sync(kFull, i, o);
    am_combine(v, i, v2, i2);
  }
  if ((threadIdx.x & 31) == 0) {
    sh.am_v[threadIdx.x >> 5] = v;
    sh.am_i[threadIdx.x >> 5] = i;
  }
  __syncthreads();
  v = sh.am_v[0];
  i = sh.am_i[0];
#pragma unroll
  for (int w = 1; w < kWarps; ++w) am_combine(v, i, sh.am_v[w], sh.am_i[w]);
  __syncthreads();
}

// Grid-wide barrier. Sound because the kernel is launched cooperatively (all
// blocks resident); the counter returns to 0 after each use, the generation
// word tells the waiters it is done.
__device__ void grid_sync(Ctrl* c) {
  __syncthreads();
  if (threadIdx.x == 0) {
    volatile unsigned* gen = &c->bar_gen;
    const unsigned g = *gen;
    __threadfence();
    if (atomicAdd(&c->bar_count, 1u) == gridDim.x - 1) {
      atomicExch(&c->bar_count, 0u);
      __threadfence();
      atomicAdd(&c->bar_gen, 1u);
    } else {
      while (*gen == g) {
      }
    }
    __threadfence();
  }
  __syncthreads();
}

// True in the block that arrives last (all others' writes before their arrival
// are visible to it). Used once per launch.
__device__ bool arrive_last(Ctrl* c, Misc& sh) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    sh.ival = atomicAdd(&c->ticket, 1u) == gridDim.x - 1;
    __threadfence();
  }
  __syncthreads();
  return sh.ival != 0;
}

// The bin holding the rem-th largest of hist[nb] (rem >= 1, counted from the
// top bin down): g, the count in bins above it, and its own count.
__device__ SelOut select_bin(const unsigned* hist, int nb, unsigned rem, Misc& sh) {
  const int q = nb / kThreads;  // 4 or 2 bins per thread
  const int first = threadIdx.x * q;
  unsigned h[4];
  unsigned s = 0;
#pragma unroll
  for (int t = 0; t < 4; ++t) {
    h[t] = t < q ? __ldcg(hist + first + t) : 0u;
    s += h[t];
  }
  unsigned total;
  const unsigned excl = block_excl_scan<unsigned>(s, sh.ubuf, &total);
  unsigned above = total - excl - s;  // bins of the threads after this one
#pragma unroll
  for (int t = 3; t >= 0; --t) {
    if (t < q) {
      if (above < rem && rem <= above + h[t]) sh.sel = SelOut{first + t, above, h[t]};
      above += h[t];
    }
  }
  __syncthreads();
  const SelOut out = sh.sel;
  __syncthreads();
  return out;
}

// Descending bitonic sort of v[0, n), n a power of 2, by the whole block.
__device__ void bitonic_desc(unsigned long long* v, int n) {
  __syncthreads();
  for (int k = 2; k <= n; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < n; i += kThreads) {
        const int l = i ^ j;
        if (l > i) {
          const unsigned long long x = v[i], y = v[l];
          if ((i & k) == 0 ? x < y : x > y) {
            v[i] = y;
            v[l] = x;
          }
        }
      }
      __syncthreads();
    }
  }
}

__device__ void write_token(const Args& a, int t) {
  if (t < 0 || t >= a.vocab) t = 0;  // only for NaN rows or min_p > 1, which the CPU rejects or leaves undefined
  *a.token = t;
  if (a.seen) a.seen[t] = 1;
}

// ---- block 0 alone: a small candidate set ---------------------------------------

// Candidates src[0, n_src) (n_src <= kSmallCap; ids null = src is the key array
// in token order). With top-k, the set holds the top k and possibly more.
__device__ void small_finish(const Args& a, const SamplingInputs& prm, bool use_topk, bool use_topp, bool use_minp,
                             const unsigned* src_key, const int* src_id, int n_src, double gmax, int argmax_id,
                             unsigned long long* comp, double* wt, Misc& sh) {
  const int tid = threadIdx.x;
  int n2 = 1;
  while (n2 < n_src) n2 <<= 1;
  // Without top-k the CPU sums top-p's total in token order (its list is still
  // in token order then): the source is in token order, sum it before sorting.
  const bool id_total = use_topp && !use_topk && src_id == nullptr;
  for (int j = tid; j < n2; j += kThreads) {
    unsigned long long c = 0;  // padding: sorts last
    if (j < n_src) {
      const unsigned key = __ldcg(src_key + j);
      const int id = src_id ? __ldcg(src_id + j) : j;
      c = (static_cast<unsigned long long>(key) << 32) | (0xffffffffu - static_cast<unsigned>(id));
      if (id_total) wt[j] = weight_of(key, gmax);
    }
    comp[j] = c;
  }
  __syncthreads();
  if (id_total && tid == 0) {
    double s = 0;
    for (int j = 0; j < n_src; ++j) s += wt[j];
    sh.dval = s;
  }
  // (logit desc, id asc): the CPU's more_likely order.
  bitonic_desc(comp, n2);

  int n = n_src;
  if (use_topk) {  // keep every token >= the k-th largest (ties stay)
    const unsigned kth = static_cast<unsigned>(comp[prm.top_k - 1] >> 32);
    int c = 0;
    for (int j = tid; j < n_src; j += kThreads) c += static_cast<unsigned>(comp[j] >> 32) >= kth;
    n = block_sum_int(c, sh);
  }
  int n_p = n;
  if (use_topp) {
    for (int j = tid; j < n; j += kThreads) wt[j] = weight_of(static_cast<unsigned>(comp[j] >> 32), gmax);
    __syncthreads();
    if (tid == 0) {
      double total = 0;
      if (id_total) {
        total = sh.dval;
      } else {
        for (int j = 0; j < n; ++j) total += wt[j];
      }
      const double target = static_cast<double>(prm.top_p) * total;
      double mass = 0;
      int np = n;  // rounding: p never reached, keep all
      for (int j = 0; j < n; ++j) {
        mass += wt[j];
        if (mass >= target) {
          np = j + 1;
          break;
        }
      }
      sh.ival2 = np;
    }
    __syncthreads();
    n_p = sh.ival2;
    __syncthreads();
  }
  // Survivors of min-p, re-keyed (id asc, logit) by swapping the halves.
  int cs = 0;
  for (int j = tid; j < n2; j += kThreads) {
    const unsigned long long c = comp[j];
    bool keep = j < n_p;
    if (keep && use_minp) keep = !(weight_of(static_cast<unsigned>(c >> 32), gmax) < static_cast<double>(prm.min_p));
    comp[j] = keep ? ((c << 32) | (c >> 32)) : 0ull;
    cs += keep;
  }
  const int n_s = block_sum_int(cs, sh);
  bitonic_desc(comp, n2);
  for (int j = tid; j < n_s; j += kThreads) wt[j] = weight_of(static_cast<unsigned>(comp[j]), gmax);
  __syncthreads();
  if (tid == 0) {
    int t = argmax_id;
    if (n_s > 0) {
      double total = 0;
      for (int j = 0; j < n_s; ++j) total += wt[j];
      const double target = prm.uniform * total;
      double cum = 0;
      int pick = n_s - 1;  // rounding left the target at the very end
      for (int j = 0; j < n_s; ++j) {
        cum += wt[j];
        if (cum > target) {
          pick = j;
          break;
        }
      }
      t = static_cast<int>(0xffffffffu - static_cast<unsigned>(comp[pick] >> 32));
    }
    write_token(a, t);
  }
}

// ---- block 0 alone: sequential sums in the CPU's order (the fallback) -------------

// Sum of f(0..n-1), left to right, by thread 0 (weights computed by the block).
template <class F>
__device__ double seq_total(int n, F f, double* buf, Misc& sh) {
  double s = 0;
  for (int base = 0; base < n; base += kSmallCap) {
    const int m = min(kSmallCap, n - base);
    for (int j = threadIdx.x; j < m; j += kThreads) buf[j] = f(base + j);
    __syncthreads();
    if (threadIdx.x == 0)
      for (int j = 0; j < m; ++j) s += buf[j];
    __syncthreads();
  }
  if (threadIdx.x == 0) sh.dval = s;
  __syncthreads();
  s = sh.dval;
  __syncthreads();
  return s;
}

// First index whose running sum (left to right) is >= target (ge) or > target;
// -1 if none.
template <class F>
__device__ int seq_first(int n, F f, double target, bool ge, double* buf, Misc& sh) {
  double cum = 0;
  if (threadIdx.x == 0) sh.ival = -1;
  __syncthreads();
  for (int base = 0; base < n; base += kSmallCap) {
    const int m = min(kSmallCap, n - base);
    for (int j = threadIdx.x; j < m; j += kThreads) buf[j] = f(base + j);
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int j = 0; j < m; ++j) {
        cum += buf[j];
        if (ge ? cum >= target : cum > target) {
          sh.ival = base + j;
          break;
        }
      }
    }
    __syncthreads();
    if (sh.ival >= 0) break;
  }
  const int r = sh.ival;
  __syncthreads();
  return r;
}

// ---- all blocks: parallel ordered cut ---------------------------------------------

// A cut over one ordered sequence of n_total weights, block b holding positions
// [seg_begin, seg_begin + seg_n), thread t a contiguous run of them. Phase 1:
// each thread's sum, the block's sum into part_sum[b]. f(j, &surv) gives the
// weight of local element j and whether it is a candidate at all.
template <class F>
__device__ double cut_phase1(F f, int seg_n, double* part_sum, int* max_surv, Misc& sh) {
  const int r = (seg_n + kThreads - 1) / kThreads;
  const int lo = threadIdx.x * r;
  const int hi = min(seg_n, lo + r);
  double s = 0;
  int ms = -1;
  for (int j = lo; j < hi; ++j) {
    bool surv;
    s += f(j, &surv);
    if (surv) ms = j;
  }
  double tot;
  block_excl_scan<double>(s, sh.dbuf, &tot);
  if (threadIdx.x == 0) part_sum[blockIdx.x] = tot;
  if (max_surv) *max_surv = block_max_int(ms, sh);
  return s;
}

// Phase 2 (after a grid barrier): the prefix sums P_j, compared with
// target = factor * total. P_j and the CPU's sequential S_j are sums of the same
// nonnegative terms in other orders, the CPU's weights within 1 ulp each of
// ours (both exps within 1 ulp): |S_j - P_j| and the targets' difference stay
// under K (P_j + target) with K = (4 n + 64) 2^-53. Outside that band the
// decision is the CPU's; inside it the caller redoes the cut sequentially.
template <class F>
__device__ void cut_phase2(F f, int seg_n, int seg_begin, int n_total, double factor, bool ge, double s_thread,
                           const double* part_sum, int* amb, int* found, Misc& sh) {
  const int tid = threadIdx.x;
  const int nb = gridDim.x;
  const double p0 = 2 * tid < nb ? __ldcg(part_sum + 2 * tid) : 0.0;
  const double p1 = 2 * tid + 1 < nb ? __ldcg(part_sum + 2 * tid + 1) : 0.0;
  double total;
  const double ex = block_excl_scan<double>(p0 + p1, sh.dbuf, &total);
  if (2 * tid == static_cast<int>(blockIdx.x)) sh.dval = ex;
  if (2 * tid + 1 == static_cast<int>(blockIdx.x)) sh.dval = ex + p0;
  __syncthreads();
  const double block_prefix = sh.dval;
  __syncthreads();
  const double texcl = block_excl_scan<double>(s_thread, sh.dbuf, nullptr);
  const double target = factor * total;
  const double kb = (4.0 * n_total + 64.0) * 0x1p-53;
  const int r = (seg_n + kThreads - 1) / kThreads;
  const int lo = tid * r;
  const int hi = min(seg_n, lo + r);
  double p = block_prefix + texcl;
  bool unsure = false;
  int first = INT_MAX;
  for (int j = lo; j < hi; ++j) {
    bool surv;
    p += f(j, &surv);
    const bool cross = ge ? p >= target : p > target;
    if (!(p == 0.0 && target == 0.0) && fabs(p - target) <= kb * (p + target) + 0x1p-1000) unsure = true;
    if (cross && first == INT_MAX) first = seg_begin + j;
  }
  const int any_unsure = __syncthreads_or(unsure);
  first = block_min_int(first, sh);
  if (tid == 0) {
    if (any_unsure) atomicOr(amb, 1);
    if (first != INT_MAX) atomicMax(found, n_total - first);
  }
}

// ---- all blocks: stable LSD radix sort pass (8 bits, keys descending) -------------

// Pass `pass` sorts by bits [8 pass, 8 pass + 8) of the key, descending,
// stably: pass 0 reads the block's chunk (token order) from shared memory,
// then a -> b -> a -> b. Three grid barriers.
__device__ void sort_pass(int pass, const Args& a, const unsigned* ckeys, int begin, int cnt,
                          unsigned char* arena, Misc& sh) {
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const int nb = gridDim.x, b = blockIdx.x;
  const int shift = 8 * pass;
  const int chunk = a.chunk;
  unsigned* tkey_buf = reinterpret_cast<unsigned*>(arena);
  int* tid_buf = reinterpret_cast<int*>(arena + 4 * static_cast<size_t>(chunk));
  unsigned* trank = reinterpret_cast<unsigned*>(arena + 8 * static_cast<size_t>(chunk));
  unsigned* wcnt = reinterpret_cast<unsigned*>(arena + 12 * static_cast<size_t>(chunk));  // [kWarps][256]
  unsigned* off = wcnt + kWarps * 256;                                                    // [256]
  const unsigned* tkey = pass == 0 ? ckeys : tkey_buf;
  const unsigned* src_key = (pass & 1) ? a.a_key : a.b_key;
  const int* src_id = (pass & 1) ? a.a_id : a.b_id;
  unsigned* dst_key = (pass & 1) ? a.b_key : a.a_key;
  int* dst_id = (pass & 1) ? a.b_id : a.a_id;

  // (a) tile into shared memory; per-warp stable ranks and digit counts.
  for (int j = tid; j < cnt; j += kThreads) {
    if (pass == 0) {
      tid_buf[j] = begin + j;
    } else {
      tkey_buf[j] = __ldcg(src_key + begin + j);
      tid_buf[j] = __ldcg(src_id + begin + j);
    }
  }
  for (int t = tid; t < kWarps * 256; t += kThreads) wcnt[t] = 0;
  __syncthreads();
  const int sub = (chunk + kWarps - 1) / kWarps;  // warp w ranks tile[w sub, (w+1) sub)
  const int wlo = w * sub;
  const int whi = min(cnt, wlo + sub);
  unsigned* mycnt = wcnt + w * 256;
  for (int base = wlo; base < wlo + sub; base += 32) {  // same trip count in the whole warp
    const int j = base + lane;
    const bool valid = j < whi;
    const unsigned d = valid ? 255u - ((tkey[j] >> shift) & 255u) : 256u + lane;
    const unsigned peers = __match_any_sync(kFull, d);
    const unsigned rank = __popc(peers & ((1u << lane) - 1u));
    const unsigned prior = valid ? mycnt[d] : 0u;
    __syncwarp();
    if (valid && rank == 0) mycnt[d] = prior + __popc(peers);
    __syncwarp();
    if (valid) trank[j] = prior + rank;
  }
  __syncthreads();
  for (int d = tid; d < 256; d += kThreads) {
    unsigned s = 0;
    for (int ww = 0; ww < kWarps; ++ww) s += wcnt[ww * 256 + d];
    a.table[d * nb + b] = s;
  }
  grid_sync(a.ctrl);

  // (b) per digit, exclusive scan over the blocks (one warp per digit).
  for (int d = b * kWarps + w; d < 256; d += nb * kWarps) {
    unsigned carry = 0;
    for (int c0 = 0; c0 < nb; c0 += 32) {
      const int t = c0 + lane;
      const unsigned v = t < nb ? __ldcg(a.table + d * nb + t) : 0u;
      const unsigned incl = warp_incl_scan(v);
      if (t < nb) a.table[d * nb + t] = carry + incl - v;
      carry += __shfl_sync(kFull, incl, 31);
    }
    if (lane == 0) a.tot[d] = carry;
  }
  grid_sync(a.ctrl);

  // (c) scatter: digit base + this block's offset + the warps before + rank.
  const unsigned v = tid < 256 ? __ldcg(a.tot + tid) : 0u;
  const unsigned ex = block_excl_scan<unsigned>(v, sh.ubuf, nullptr);
  if (tid < 256) {
    off[tid] = ex + __ldcg(a.table + tid * nb + b);
    unsigned run = 0;
    for (int ww = 0; ww < kWarps; ++ww) {
      const unsigned c = wcnt[ww * 256 + tid];
      wcnt[ww * 256 + tid] = run;
      run += c;
    }
  }
  __syncthreads();
  for (int j = tid; j < cnt; j += kThreads) {
    const unsigned key = tkey[j];
    const unsigned d = 255u - ((key >> shift) & 255u);
    const unsigned pos = off[d] + wcnt[(j / sub) * 256 + d] + trank[j];
    dst_key[pos] = key;
    dst_id[pos] = tid_buf[j];
  }
  grid_sync(a.ctrl);
}

// Gathers the block's tokens with key >= lower into the candidate list.
__device__ void gather_ge(const Args& a, const unsigned* ckeys, int begin, int cnt, unsigned lower, Misc& sh) {
  const int r = (cnt + kThreads - 1) / kThreads;
  const int lo = threadIdx.x * r;
  const int hi = min(cnt, lo + r);
  unsigned c = 0;
  for (int j = lo; j < hi; ++j) c += ckeys[j] >= lower;
  unsigned total;
  unsigned pos = block_excl_scan<unsigned>(c, sh.ubuf, &total);
  if (threadIdx.x == 0) sh.uval = total ? atomicAdd(&a.ctrl->cand_count, total) : 0u;
  __syncthreads();
  pos += sh.uval;
  for (int j = lo; j < hi; ++j) {
    if (ckeys[j] >= lower && pos < static_cast<unsigned>(kSmallCap)) {
      a.cand_key[pos] = ckeys[j];
      a.cand_id[pos] = begin + j;
      ++pos;
    }
  }
}

// ---- the kernel -----------------------------------------------------------------

__global__ void __launch_bounds__(kThreads, 1) sample_kernel(Args a) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ unsigned sh_hist[kHistBins];
  __shared__ Misc sh;

  const int tid = threadIdx.x;
  const int b = blockIdx.x;
  const int vocab = a.vocab;
  const int begin = b * a.chunk;
  const int cnt = max(0, min(a.chunk, vocab - begin));
  unsigned* ckeys = reinterpret_cast<unsigned*>(smem);
  unsigned char* arena = smem + ((4 * static_cast<size_t>(a.chunk) + 15) & ~static_cast<size_t>(15));
  unsigned long long* comp = reinterpret_cast<unsigned long long*>(arena);
  double* wt = reinterpret_cast<double*>(arena + 8 * kSmallCap);
  Ctrl* ctrl = a.ctrl;

  const SamplingInputs prm = *a.params;
  // The CPU's conditions, literally (NaN settings go the same way).
  const bool greedy = prm.temperature <= 0.0f;
  const bool use_topk = prm.top_k > 0 && prm.top_k < vocab;
  const bool use_topp = !(prm.top_p >= 1.0f);
  const bool use_minp = !(prm.min_p <= 0.0f);
  const bool penalize = a.seen != nullptr && (prm.repetition_penalty != 1.0f || prm.presence_penalty != 0.0f);

  // ---- stage A: penalties, temperature, keys, first maximum, top-k digit 1.
  const bool hist0 = !greedy && use_topk;
  if (hist0) {
    for (int t = tid; t < kHistBins; t += kThreads) sh_hist[t] = 0;
    __syncthreads();
  }
  float bv = -INFINITY;
  int bi = INT_MAX;
#pragma unroll 4
  for (int j = tid; j < cnt; j += kThreads) {
    const int i = begin + j;
    float x = __ldg(a.logits + i);
    if (penalize && a.seen[i] != 0) {
      if (prm.repetition_penalty != 1.0f)
        x = x < 0.0f ? __fmul_rn(x, prm.repetition_penalty) : __fdiv_rn(x, prm.repetition_penalty);
      x = __fsub_rn(x, prm.presence_penalty);
    }
    if (!greedy) {
      x = __fadd_rn(__fdiv_rn(x, prm.temperature), 0.0f);  // + 0: -0 becomes +0 (one key per value)
      const unsigned key = f2key(x);
      ckeys[j] = key;
      a.keys[i] = key;
      if (hist0) atomicAdd(&sh_hist[key >> 21], 1u);
    }
    am_combine(bv, bi, x, i);
  }
  block_argmax(bv, bi, sh);
  if (tid == 0) {
    a.part_val[b] = bv;
    a.part_idx[b] = bi;
  }
  if (hist0) {
    __syncthreads();
    for (int t = tid; t < kHistBins; t += kThreads)
      if (sh_hist[t]) atomicAdd(&ctrl->hist[0][t], sh_hist[t]);
  }

  // Reduction of the blocks' first maxima (in block order: deterministic).
  auto reduce_partials = [&](float& v, int& i) {
    v = -INFINITY;
    i = INT_MAX;
    for (int t = tid; t < static_cast<int>(gridDim.x); t += kThreads) am_combine(v, i, __ldcg(a.part_val + t), __ldcg(a.part_idx + t));
    block_argmax(v, i, sh);
  };

  if (greedy) {
    if (!arrive_last(ctrl, sh)) return;
    float v;
    int i;
    reduce_partials(v, i);
    if (tid == 0) write_token(a, i);
    return;
  }

  grid_sync(ctrl);
  float gmax_f;
  int argmax_id;
  reduce_partials(gmax_f, argmax_id);
  const double gmax = gmax_f;  // the maximum survives every filter: the CPU's max_logit

  // Small candidate sets: block 0 finishes alone.
  const unsigned* small_key = nullptr;
  const int* small_id = nullptr;
  int small_n = 0;
  if (!use_topk && vocab <= kSmallCap) {
    small_key = a.keys;  // token order, ids implicit
    small_n = vocab;
  }

  unsigned kth = 0;  // every key >= 0: no top-k
  int n_cand = vocab;
  if (use_topk) {
    // Radix select of the k-th largest key, digits of 11, 11, 10 bits. After
    // each digit, the tokens >= the selected bin (a superset of the top k) go to
    // block 0 if they are few.
    unsigned rem = static_cast<unsigned>(prm.top_k);
    unsigned above_total = 0;
    unsigned prefix = 0;
    unsigned sup = 0;
    bool gathered = false;
#pragma unroll 1
    for (int p = 0; p < 3; ++p) {
      const int dshift = p == 0 ? 21 : (p == 1 ? 10 : 0);
      const unsigned dmask = p == 2 ? 0x3ffu : 0x7ffu;
      const int dbins = p == 2 ? 1024 : 2048;
      if (p > 0) {
        const int mshift = p == 1 ? 21 : 10;
        const unsigned want = prefix >> mshift;
        for (int t = tid; t < kHistBins; t += kThreads) sh_hist[t] = 0;
        __syncthreads();
        for (int j = tid; j < cnt; j += kThreads) {
          const unsigned key = ckeys[j];
          if ((key >> mshift) == want) atomicAdd(&sh_hist[(key >> dshift) & dmask], 1u);
        }
        __syncthreads();
        for (int t = tid; t < dbins; t += kThreads)
          if (sh_hist[t]) atomicAdd(&ctrl->hist[p][t], sh_hist[t]);
        grid_sync(ctrl);
      }
      const SelOut s = select_bin(ctrl->hist[p], dbins, rem, sh);
      prefix |= static_cast<unsigned>(s.g) << dshift;
      above_total += s.above;
      rem -= s.above;
      sup = above_total + s.h;  // tokens with key >= prefix
      if (sup <= static_cast<unsigned>(kSmallCap)) {
        gather_ge(a, ckeys, begin, cnt, prefix, sh);
        grid_sync(ctrl);
        gathered = true;
        break;
      }
    }
    if (gathered) {
      small_key = a.cand_key;
      small_id = a.cand_id;
      small_n = static_cast<int>(sup);
    }
    kth = prefix;  // exact after the last digit
    n_cand = static_cast<int>(sup);
  }
  if (small_key) {
    if (b == 0)
      small_finish(a, prm, use_topk, use_topp, use_minp, small_key, small_id, small_n, gmax, argmax_id, comp, wt, sh);
    return;
  }

  // ---- large candidate sets ----
  bool have_cut = false;
  unsigned cut_key = 0;
  int cut_id = 0;
  if (use_topp) {
    for (int pass = 0; pass < 4; ++pass) sort_pass(pass, a, ckeys, begin, cnt, arena, sh);
    // Sorted (logit desc, id asc) in b; the candidates are its first n_cand.
    const int seg_begin = min(begin, n_cand);
    const int seg_n = max(0, min(a.chunk, n_cand - begin));
    auto wsorted = [&](int j, bool* surv) {
      *surv = true;
      return weight_of(__ldcg(a.b_key + seg_begin + j), gmax);
    };
    const double s = cut_phase1(wsorted, seg_n, a.part_sum, nullptr, sh);
    grid_sync(ctrl);
    cut_phase2(wsorted, seg_n, seg_begin, n_cand, static_cast<double>(prm.top_p), true, s, a.part_sum, &ctrl->amb_p,
               &ctrl->found_p, sh);
    grid_sync(ctrl);
    int found;
    if (*reinterpret_cast<volatile int*>(&ctrl->amb_p)) {
      if (b == 0) {
        // The CPU's order: total over its list (token order without top-k),
        // mass in sorted order.
        double total;
        if (!use_topk) {
          total = seq_total(vocab, [&](int i) { return weight_of(__ldcg(a.keys + i), gmax); }, wt, sh);
        } else {
          total = seq_total(n_cand, [&](int j) { return weight_of(__ldcg(a.b_key + j), gmax); }, wt, sh);
        }
        const int f = seq_first(n_cand, [&](int j) { return weight_of(__ldcg(a.b_key + j), gmax); },
                                static_cast<double>(prm.top_p) * total, true, wt, sh);
        if (tid == 0) ctrl->found_p_seq = f >= 0 ? n_cand - f : 0;
      }
      grid_sync(ctrl);
      found = *reinterpret_cast<volatile int*>(&ctrl->found_p_seq);
    } else {
      found = *reinterpret_cast<volatile int*>(&ctrl->found_p);
    }
    if (found > 0) {
      const int first = n_cand - found;
      have_cut = true;
      cut_key = __ldcg(a.b_key + first);
      cut_id = __ldcg(a.b_id + first);
    }
  }

  // The draw over the block's own tokens, in token order.
  const double min_p = prm.min_p;
  auto survivor = [&](unsigned key, int id, bool* surv) {
    double w = 0;
    bool s = key >= kth;
    if (s && have_cut) s = key > cut_key || (key == cut_key && id <= cut_id);
    if (s) {
      w = weight_of(key, gmax);
      if (use_minp && w < min_p) s = false;
    }
    *surv = s;
    return s ? w : 0.0;  // x + 0 is exact: summing non-candidates as 0 changes no partial sum
  };
  auto wdraw = [&](int j, bool* surv) { return survivor(ckeys[j], begin + j, surv); };
  int last_local;
  const double s = cut_phase1(wdraw, cnt, a.part_sum, &last_local, sh);
  if (tid == 0 && last_local >= 0) atomicMax(&ctrl->last_d, begin + last_local + 1);
  grid_sync(ctrl);
  if (prm.uniform >= 1.0) {
    // target = total: no partial sum exceeds it (the CPU's total is its last
    // partial sum), so the last candidate.
    if (b == 0 && tid == 0) write_token(a, *reinterpret_cast<volatile int*>(&ctrl->last_d) - 1);
    return;
  }
  cut_phase2(wdraw, cnt, begin, vocab, prm.uniform, false, s, a.part_sum, &ctrl->amb_d, &ctrl->found_d, sh);
  grid_sync(ctrl);
  if (b != 0) return;
  const int last = *reinterpret_cast<volatile int*>(&ctrl->last_d) - 1;
  if (*reinterpret_cast<volatile int*>(&ctrl->amb_d)) {
    auto wglobal = [&](int i) {
      bool sv;
      return survivor(__ldcg(a.keys + i), i, &sv);
    };
    const double total = seq_total(vocab, wglobal, wt, sh);
    const int f = seq_first(vocab, wglobal, prm.uniform * total, false, wt, sh);
    if (tid == 0) write_token(a, f >= 0 ? f : last);
  } else if (tid == 0) {
    const int found = *reinterpret_cast<volatile int*>(&ctrl->found_d);
    write_token(a, found > 0 ? vocab - found : last);
  }
}

__global__ void mark_seen_kernel(const int32_t* ids, int64_t n, int32_t* seen) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t t = ids[i];
    if (t >= 0) seen[t] = 1;
  }
}

// ---- host side --------------------------------------------------------------------

size_t align256(size_t x) { return (x + 255) & ~static_cast<size_t>(255); }

struct Layout {
  size_t ctrl, part_val, part_idx, part_sum, table, tot, keys, cand_key, cand_id, a_key, a_id, b_key, b_id, total;
};

Layout layout_for(int64_t vocab) {
  Layout l{};
  size_t off = 0;
  auto take = [&](size_t bytes) {
    const size_t o = off;
    off = align256(off + bytes);
    return o;
  };
  const size_t v = static_cast<size_t>(vocab);
  l.ctrl = take(sizeof(Ctrl));
  l.part_val = take(sizeof(float) * kMaxBlocks);
  l.part_idx = take(sizeof(int) * kMaxBlocks);
  l.part_sum = take(sizeof(double) * kMaxBlocks);
  l.table = take(sizeof(unsigned) * 256 * kMaxBlocks);
  l.tot = take(sizeof(unsigned) * 256);
  l.keys = take(sizeof(unsigned) * v);
  l.cand_key = take(sizeof(unsigned) * kSmallCap);
  l.cand_id = take(sizeof(int) * kSmallCap);
  l.a_key = take(sizeof(unsigned) * v);
  l.a_id = take(sizeof(int) * v);
  l.b_key = take(sizeof(unsigned) * v);
  l.b_id = take(sizeof(int) * v);
  l.total = off;
  return l;
}

size_t dynamic_smem_bytes(int64_t chunk) {
  const size_t keys = (4 * static_cast<size_t>(chunk) + 15) & ~static_cast<size_t>(15);
  const size_t small = 16 * static_cast<size_t>(kSmallCap);
  const size_t sort = 12 * static_cast<size_t>(chunk) + 4 * (kWarps * 256 + 256);
  return keys + (small > sort ? small : sort);
}

// Per device: SM count, and the largest dynamic shared memory set so far.
struct DeviceCache {
  int sms = 0;
  size_t smem_set = 0;
};

}  // namespace

size_t sampling_scratch_bytes(int64_t vocab) { return layout_for(vocab < 1 ? 1 : vocab).total; }

cudaError_t launch_sample(const float* logits, int64_t vocab, const SamplingInputs* params, int32_t* seen,
                          int32_t* token, void* scratch, cudaStream_t stream) {
  if (vocab < 1 || vocab > INT32_MAX || !logits || !params || !token || !scratch) return cudaErrorInvalidValue;
  if (reinterpret_cast<uintptr_t>(scratch) % 256 != 0) return cudaErrorInvalidValue;
  int dev = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e != cudaSuccess) return e;
  static std::mutex mu;
  static DeviceCache cache[64];
  if (dev < 0 || dev >= 64) return cudaErrorInvalidDevice;
  int sms;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (cache[dev].sms == 0) {
      e = cudaDeviceGetAttribute(&cache[dev].sms, cudaDevAttrMultiProcessorCount, dev);
      if (e != cudaSuccess) return e;
    }
    sms = cache[dev].sms;
  }
  // One block per SM at most (all resident: the kernel has grid barriers), at
  // least kMinChunk tokens each.
  int64_t blocks = (vocab + kMinChunk - 1) / kMinChunk;
  if (blocks > sms) blocks = sms;
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  const int64_t chunk = (vocab + blocks - 1) / blocks;
  if (chunk > kMaxChunk) return cudaErrorInvalidValue;
  const size_t smem = dynamic_smem_bytes(chunk);
  {
    std::lock_guard<std::mutex> lock(mu);
    if (smem > cache[dev].smem_set) {
      e = cudaFuncSetAttribute(sample_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
      if (e != cudaSuccess) return e;
      int per_sm = 0;
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, sample_kernel, kThreads, smem);
      if (e != cudaSuccess) return e;
      if (per_sm < 1) return cudaErrorInvalidConfiguration;
      cache[dev].smem_set = smem;
    }
  }

  const Layout l = layout_for(vocab);
  unsigned char* s = static_cast<unsigned char*>(scratch);
  Args a;
  a.logits = logits;
  a.params = params;
  a.seen = seen;
  a.token = token;
  a.vocab = static_cast<int>(vocab);
  a.chunk = static_cast<int>(chunk);
  a.ctrl = reinterpret_cast<Ctrl*>(s + l.ctrl);
  a.part_val = reinterpret_cast<float*>(s + l.part_val);
  a.part_idx = reinterpret_cast<int*>(s + l.part_idx);
  a.part_sum = reinterpret_cast<double*>(s + l.part_sum);
  a.table = reinterpret_cast<unsigned*>(s + l.table);
  a.tot = reinterpret_cast<unsigned*>(s + l.tot);
  a.keys = reinterpret_cast<unsigned*>(s + l.keys);
  a.cand_key = reinterpret_cast<unsigned*>(s + l.cand_key);
  a.cand_id = reinterpret_cast<int*>(s + l.cand_id);
  a.a_key = reinterpret_cast<unsigned*>(s + l.a_key);
  a.a_id = reinterpret_cast<int*>(s + l.a_id);
  a.b_key = reinterpret_cast<unsigned*>(s + l.b_key);
  a.b_id = reinterpret_cast<int*>(s + l.b_id);

  e = cudaMemsetAsync(a.ctrl, 0, sizeof(Ctrl), stream);
  if (e != cudaSuccess) return e;
  void* args[] = {&a};
  e = cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(sample_kernel), dim3(static_cast<unsigned>(blocks)),
                                  dim3(kThreads), args, smem, stream);
  if (e != cudaSuccess) return e;
  return launch_status();
}

cudaError_t launch_mark_seen(const int32_t* ids, int64_t n, int32_t* seen, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (!ids || !seen) return cudaErrorInvalidValue;
  mark_seen_kernel<<<blocks_for(n, 256, 1024), 256, 0, stream>>>(ids, n, seen);
  return launch_status();
}

}  // namespace ql::gpu
