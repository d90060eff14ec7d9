#pragma once
// Causal GQA attention of the text model over the bf16 KV cache, for the
// prompt (prefill) steps (docs/gpu-backend.md, "Attention"). The decode
// header includes this one for SeqSpan.
//
// Numerics (all three attention ops): scores and softmax in fp32
// (max-subtracted, online/flash style, exp2 with log2(e) folded into the
// query). The tensor-core paths (head_dim <= 128) round q * scale * log2(e)
// and the probabilities p to bf16 as mma operands (K/V are bf16 already in
// the cache; the vision op rounds its fp32 k/v to bf16 as it stages them);
// products accumulate in fp32. head_dim in (128, 256] takes an fp32 path
// (one warp per query, exact fp32 operands).
//
// The second half of this header (only under nvcc) holds the device code the
// three attention .cu files share: the mma/ldmatrix/cp.async helpers, the
// flash kernel (prefill, segments) and the scalar fp32 kernel.
#include <cstddef>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace ql::gpu {

// One sequence of a step (device memory, int32 x4): its query rows are q rows [q_start, q_start + q_count);
// its keys are cache rows [key_start, key_start + key_count), of which the LAST q_count are this step's
// new tokens. Query t (0-based within the sequence) sees cache rows [key_start, key_start + key_count - q_count + t]
// (causal, inclusive).
struct SeqSpan {
  int32_t q_start, q_count, key_start, key_count;
};

// Causal GQA attention over a bf16 KV cache (k_cache, v_cache: [capacity, kv_heads*head_dim] row-major, stride ld_kv).
// q fp32 [total_q, heads*head_dim] (stride ldq), already normed and roped; out fp32 [total_q, heads*head_dim] (stride ldo).
// Query head h uses KV head h / (heads / kv_heads). scores = (q . k) * scale, softmax in fp32 (max-subtracted,
// online/flash style, never an [n, n] matrix in memory), out = p . v. head_dim in [1, 256]; spans: device SeqSpan[num_seqs].
// max_q_per_seq >= every span's q_count (it sizes the grid); query rows at or past total_q are skipped.
// A query that sees no key (key_count < q_count) gets zeros. out must not overlap q or the cache.
// Fast path (tensor cores, cp.async): head_dim <= 128, head_dim % 8 == 0, ld_kv % 8 == 0, caches 16-byte aligned;
// other head_dim <= 128 stage K/V with scalar loads, head_dim > 128 runs the fp32 path.
cudaError_t launch_attention_prefill(const float* q, int64_t ldq, const void* k_cache, const void* v_cache,
                                     int64_t ld_kv, const SeqSpan* spans, int num_seqs, int64_t total_q,
                                     int max_q_per_seq, int heads, int kv_heads, int head_dim, float scale, float* out,
                                     int64_t ldo, cudaStream_t stream);

}  // namespace ql::gpu

#if defined(__CUDACC__)

#include <atomic>

namespace ql::gpu::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kMaxHeadDim = 256;
constexpr int kMaxTensorHeadDim = 128;

// Head dims are padded (with zeros) to one of these for the mma tiles.
inline int padded_head_dim(int hd) { return hd <= 16 ? 16 : hd <= 32 ? 32 : hd <= 64 ? 64 : hd <= 80 ? 80 : 128; }

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// ---------------------------------------------------------------- PTX helpers

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Two fp32 -> bf16x2 (round to nearest even); `lo` is the lower column.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ float fast_exp2(float x) {  // ex2.approx: -inf -> +0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}

__device__ __forceinline__ void ldsm_x4_trans(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2,
                                              uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}

// c += a (16x16, row) * b (16x8, col), bf16 operands, fp32 accumulators.
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 16-byte async copy; `valid` false writes 16 zero bytes and reads nothing.
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Element loads of the K/V sources, widened to fp32 / narrowed to raw bf16 bits.
__device__ __forceinline__ uint16_t bf16_bits(float x) {
  __nv_bfloat16 b = __float2bfloat16_rn(x);
  return *reinterpret_cast<uint16_t*>(&b);
}
template <bool BF16>
__device__ __forceinline__ uint16_t load_as_bf16(const void* base, int64_t i) {
  if constexpr (BF16) {
    return static_cast<const uint16_t*>(base)[i];
  } else {
    return bf16_bits(static_cast<const float*>(base)[i]);
  }
}
template <bool BF16>
__device__ __forceinline__ float load_as_f32(const void* base, int64_t i) {
  if constexpr (BF16) {
    return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[i]);
  } else {
    return static_cast<const float*>(base)[i];
  }
}

// ------------------------------------------------------------ the flash kernel
//
// One CTA = BM = 16 * MT * WARPS query rows of one query head; warp w owns
// rows [w * 16 * MT, (w + 1) * 16 * MT) as MT m-tiles. Keys stream through
// shared memory in tiles of BN (bf16, rows padded by 16 bytes so ldmatrix is
// conflict-free), double-buffered. Per tile: S = Q K^T (mma, Q fragments kept
// in registers), masked online softmax on the accumulators (each row lives in
// one lane quad), P reused from the accumulator registers as the A operand
// of O += P V (V through ldmatrix.trans).

struct FlashArgs {
  const float* q;
  int64_t ldq;
  const void* k;
  const void* v;
  int64_t ldkv;
  float* out;
  int64_t ldo;
  const SeqSpan* spans;  // causal mode
  const int32_t* seg;    // segment mode
  int64_t total_rows;    // causal: total_q; segments: N
  int tiles;             // query tiles per sequence / segment
  int heads, kv_heads, hd;
  float qscale;  // scale * log2(e)
  int vec;       // 16-byte staging loads are legal
};

template <int HDP, int MT, int WARPS, int BN>
struct FlashShape {
  static constexpr int kThreads = WARPS * 32;
  static constexpr int kBM = 16 * MT * WARPS;
  static constexpr int kSK = HDP + 8;  // smem row stride (elements)
  static constexpr int kTile = BN * kSK;
  // bf16 sources: K, V x 2 stages. fp32 sources: one bf16 K, V tile + fp32 staging [2][K, V][BN][HDP].
  static constexpr size_t kSmemBf16 = size_t(4) * kTile * sizeof(uint16_t);
  static constexpr size_t kSmemF32 = size_t(2) * kTile * sizeof(uint16_t) + size_t(4) * BN * HDP * sizeof(float);
};

template <int HDP, int MT, int WARPS, int BN, bool KV_BF16, bool CAUSAL>
__global__ void __launch_bounds__(WARPS * 32) flash_tc_kernel(const FlashArgs a) {
  using S = FlashShape<HDP, MT, WARPS, BN>;
  constexpr int kThreads = S::kThreads, kBM = S::kBM, kSK = S::kSK, kTile = S::kTile;
  constexpr int KS = HDP / 16;  // k-steps of Q K^T
  constexpr int NT = BN / 8;    // key n-tiles
  constexpr int DT = HDP / 8;   // output n-tiles
  static_assert(HDP % 16 == 0 && BN % 16 == 0, "tile shape");
  extern __shared__ __align__(16) uint16_t smem[];
  // bf16 sources: sK, sV = [2][BN][kSK] each. fp32 sources: one tile each, then the fp32 staging area.
  uint16_t* sK = smem;
  uint16_t* sV = smem + (KV_BF16 ? 2 : 1) * kTile;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, c = lane & 3;
  const int head = blockIdx.y;
  const int group = blockIdx.x / a.tiles;
  const int tile = a.tiles - 1 - blockIdx.x % a.tiles;  // heavy (late) causal tiles first
  const int t0 = tile * kBM;

  // Rows of this group: query t is q row qrow0 + t; keys j (0-based) are source rows krow0 + j.
  int64_t qrow0, krow0;
  int nq, kend, past;
  if constexpr (CAUSAL) {
    const SeqSpan sp = a.spans[group];
    qrow0 = sp.q_start;
    krow0 = sp.key_start;
    nq = sp.q_count;
    past = sp.key_count - sp.q_count;
    if (t0 >= nq) return;
    kend = min(sp.key_count, past + min(t0 + kBM, nq));
  } else {
    const int64_t sb = a.seg[group];
    const int64_t se = min(static_cast<int64_t>(a.seg[group + 1]), a.total_rows);
    qrow0 = krow0 = sb;
    nq = static_cast<int>(se > sb ? se - sb : 0);
    past = 0;
    if (t0 >= nq) return;
    kend = nq;
  }
  const int kvh = head / (a.heads / a.kv_heads);
  const int hd = a.hd;
  const int64_t q_col = int64_t(head) * hd, kv_col = int64_t(kvh) * hd;

  auto row_valid = [&](int t) { return t < nq && (!CAUSAL || qrow0 + t < a.total_rows); };

  // Q fragments (A operand), scaled and rounded to bf16 once.
  uint32_t qf[MT][KS][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    const int tlo = t0 + warp * 16 * MT + mt * 16 + g, thi = tlo + 8;
    const bool vlo = row_valid(tlo), vhi = row_valid(thi);
    const float* qlo = a.q + (qrow0 + tlo) * a.ldq + q_col;
    const float* qhi = a.q + (qrow0 + thi) * a.ldq + q_col;
    auto ld = [&](bool v, const float* p, int d) { return (v && d < hd) ? p[d] * a.qscale : 0.0f; };
#pragma unroll
    for (int kk = 0; kk < KS; ++kk) {
      const int d0 = kk * 16 + 2 * c, d1 = d0 + 8;
      qf[mt][kk][0] = pack_bf16(ld(vlo, qlo, d0), ld(vlo, qlo, d0 + 1));
      qf[mt][kk][1] = pack_bf16(ld(vhi, qhi, d0), ld(vhi, qhi, d0 + 1));
      qf[mt][kk][2] = pack_bf16(ld(vlo, qlo, d1), ld(vlo, qlo, d1 + 1));
      qf[mt][kk][3] = pack_bf16(ld(vhi, qhi, d1), ld(vhi, qhi, d1 + 1));
    }
  }

  float o[MT][DT][4];
  float m[MT][2], l[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) o[mt][dt][0] = o[mt][dt][1] = o[mt][dt][2] = o[mt][dt][3] = 0.0f;
    m[mt][0] = m[mt][1] = -INFINITY;
    l[mt][0] = l[mt][1] = 0.0f;
  }

  // Per-lane ldmatrix offsets (elements): K non-transposed (b0/b1 of two key n-tiles),
  // V transposed (b0/b1 of two output n-tiles).
  const int k_lane = ((lane & 7) + ((lane >> 4) << 3)) * kSK + ((lane >> 3) & 1) * 8;
  const int v_lane = ((lane & 7) + (((lane >> 3) & 1) << 3)) * kSK + (lane >> 4) * 8;
  const uint32_t sK_addr = smem_addr(sK), sV_addr = smem_addr(sV);

  const int ntiles = (kend + BN - 1) / BN;
  const int t_warp = t0 + warp * 16 * MT;  // first row of this warp

  auto compute = [&](int buf, int j0) {
    float s[MT][NT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.0f;
    const uint32_t kb = sK_addr + uint32_t(buf * kTile + k_lane) * 2u;
#pragma unroll
    for (int kk = 0; kk < KS; ++kk) {
#pragma unroll
      for (int jp = 0; jp < NT / 2; ++jp) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4(kb + uint32_t(jp * 16 * kSK + kk * 16) * 2u, b0, b1, b2, b3);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_bf16(s[mt][2 * jp], qf[mt][kk], b0, b1);
          mma_bf16(s[mt][2 * jp + 1], qf[mt][kk], b2, b3);
        }
      }
    }
    // Mask keys past the range (and, causal, past each row's diagonal). Warp-uniform test.
    const bool need_mask = (j0 + BN > kend) || (CAUSAL && j0 + BN - 1 > past + t_warp);
    if (need_mask) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          const int t = t_warp + mt * 16 + g + 8 * hf;
          const int lim = CAUSAL ? min(kend, past + t + 1) : kend;  // visible keys: j < lim
#pragma unroll
          for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int e = 0; e < 2; ++e)
              if (j0 + nt * 8 + 2 * c + e >= lim) s[mt][nt][2 * hf + e] = -INFINITY;
        }
    }
    // Online softmax (scores are in log2 units already).
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        float mx = m[mt][hf];
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * hf], s[mt][nt][2 * hf + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const bool none = mx == -INFINITY;  // nothing visible yet: keep the state at zero
        const float corr = none ? 1.0f : fast_exp2(m[mt][hf] - mx);
        const float msub = none ? 0.0f : mx;
        m[mt][hf] = mx;
        float sum = 0.0f;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const float p0 = fast_exp2(s[mt][nt][2 * hf] - msub), p1 = fast_exp2(s[mt][nt][2 * hf + 1] - msub);
          s[mt][nt][2 * hf] = p0;
          s[mt][nt][2 * hf + 1] = p1;
          sum += p0 + p1;
        }
        l[mt][hf] = l[mt][hf] * corr + sum;
#pragma unroll
        for (int dt = 0; dt < DT; ++dt) {
          o[mt][dt][2 * hf] *= corr;
          o[mt][dt][2 * hf + 1] *= corr;
        }
      }
    // O += P V
    const uint32_t vb = sV_addr + uint32_t(buf * kTile + v_lane) * 2u;
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      uint32_t pa[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        pa[mt][0] = pack_bf16(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        pa[mt][1] = pack_bf16(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        pa[mt][2] = pack_bf16(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        pa[mt][3] = pack_bf16(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < DT / 2; ++dp) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4_trans(vb + uint32_t(kk * 16 * kSK + dp * 16) * 2u, b0, b1, b2, b3);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma_bf16(o[mt][2 * dp], pa[mt], b0, b1);
          mma_bf16(o[mt][2 * dp + 1], pa[mt], b2, b3);
        }
      }
    }
  };

  // Synchronous scalar staging (odd head dims, unaligned rows): zeros past the keys and past hd.
  auto stage_scalar = [&](int buf, int j0) {
    uint16_t* dk = sK + buf * kTile;
    uint16_t* dv = sV + buf * kTile;
    for (int i = tid; i < BN * HDP; i += kThreads) {
      const int r = i / HDP, d = i % HDP;
      uint16_t kx = 0, vx = 0;
      if (j0 + r < kend && d < hd) {
        const int64_t at = (krow0 + j0 + r) * a.ldkv + kv_col + d;
        kx = load_as_bf16<KV_BF16>(a.k, at);
        vx = load_as_bf16<KV_BF16>(a.v, at);
      }
      dk[r * kSK + d] = kx;
      dv[r * kSK + d] = vx;
    }
  };

  if constexpr (KV_BF16) {
    if (a.vec) {
      // bf16 rows, 16-byte chunks through cp.async, two stages.
      constexpr int CPR = HDP / 8, NCH = BN * CPR, PER = (NCH + kThreads - 1) / kThreads;
      auto issue = [&](int buf, int j0) {
#pragma unroll
        for (int u = 0; u < PER; ++u) {
          const int i = tid + u * kThreads;
          if (NCH % kThreads == 0 || i < NCH) {
            const int r = i / CPR, ch = i % CPR;
            const bool valid = j0 + r < kend && ch * 8 < hd;
            const int64_t at = valid ? (krow0 + j0 + r) * a.ldkv + kv_col + ch * 8 : 0;
            const uint32_t off = uint32_t(buf * kTile + r * kSK + ch * 8) * 2u;
            cp_async16(sK_addr + off, static_cast<const uint16_t*>(a.k) + at, valid);
            cp_async16(sV_addr + off, static_cast<const uint16_t*>(a.v) + at, valid);
          }
        }
      };
      if (ntiles > 0) {
        issue(0, 0);
        cp_async_commit();
      }
      for (int it = 0; it < ntiles; ++it) {
        if (it + 1 < ntiles) {
          __syncthreads();  // everyone is done reading buffer (it + 1) & 1
          issue((it + 1) & 1, (it + 1) * BN);
          cp_async_commit();
          cp_async_wait<1>();
        } else {
          cp_async_wait<0>();
        }
        __syncthreads();
        compute(it & 1, it * BN);
      }
    } else {
      for (int it = 0; it < ntiles; ++it) {
        __syncthreads();
        stage_scalar(0, it * BN);
        __syncthreads();
        compute(0, it * BN);
      }
    }
  } else {
    if (a.vec) {
      // fp32 rows: 16-byte chunks through cp.async into a two-stage fp32 staging area,
      // then rounded to bf16 into the one bf16 tile the mma reads.
      constexpr int CPR = HDP / 4, NCH1 = BN * CPR, NCH = 2 * NCH1, PER = (NCH + kThreads - 1) / kThreads;
      float* stg = reinterpret_cast<float*>(smem + 2 * kTile);  // [2 stages][K, V][BN][HDP]
      const uint32_t stg_addr = smem_addr(stg);
      auto issue = [&](int st, int j0) {
#pragma unroll
        for (int u = 0; u < PER; ++u) {
          const int i = tid + u * kThreads;
          if (NCH % kThreads == 0 || i < NCH) {
            const bool is_v = i >= NCH1;
            const int ii = is_v ? i - NCH1 : i;
            const int r = ii / CPR, ch = ii % CPR;
            const bool valid = j0 + r < kend && ch * 4 < hd;
            const int64_t at = valid ? (krow0 + j0 + r) * a.ldkv + kv_col + ch * 4 : 0;
            const float* src = static_cast<const float*>(is_v ? a.v : a.k) + at;
            cp_async16(stg_addr + uint32_t(((st * 2 + is_v) * BN + r) * HDP + ch * 4) * 4u, src, valid);
          }
        }
      };
      auto convert = [&](int st) {
#pragma unroll
        for (int u = 0; u < PER; ++u) {
          const int i = tid + u * kThreads;
          if (NCH % kThreads == 0 || i < NCH) {
            const bool is_v = i >= NCH1;
            const int ii = is_v ? i - NCH1 : i;
            const int r = ii / CPR, ch = ii % CPR;
            const float4 x = *reinterpret_cast<const float4*>(stg + ((st * 2 + is_v) * BN + r) * HDP + ch * 4);
            uint2 w;
            w.x = pack_bf16(x.x, x.y);
            w.y = pack_bf16(x.z, x.w);
            *reinterpret_cast<uint2*>((is_v ? sV : sK) + r * kSK + ch * 4) = w;
          }
        }
      };
      if (ntiles > 0) {
        issue(0, 0);
        cp_async_commit();
      }
      for (int it = 0; it < ntiles; ++it) {
        if (it + 1 < ntiles) {
          issue((it + 1) & 1, (it + 1) * BN);  // stage (it + 1) & 1 was last read by convert(it - 1)
          cp_async_commit();
          cp_async_wait<1>();
        } else {
          cp_async_wait<0>();
        }
        __syncthreads();  // stage it & 1 landed; compute(it - 1) is done with the bf16 tile
        convert(it & 1);
        __syncthreads();
        compute(0, it * BN);
      }
    } else {
      for (int it = 0; it < ntiles; ++it) {
        __syncthreads();
        stage_scalar(0, it * BN);
        __syncthreads();
        compute(0, it * BN);
      }
    }
  }

  // Epilogue: finish the row sums across each quad, normalise, store fp32.
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      float sum = l[mt][hf];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      const int t = t_warp + mt * 16 + g + 8 * hf;
      if (!row_valid(t)) continue;
      float* dst = a.out + (qrow0 + t) * a.ldo + q_col;
#pragma unroll
      for (int dt = 0; dt < DT; ++dt) {
        const int d = dt * 8 + 2 * c;
        if (d < hd) dst[d] = o[mt][dt][2 * hf] * inv;
        if (d + 1 < hd) dst[d + 1] = o[mt][dt][2 * hf + 1] * inv;
      }
    }
}

// ------------------------------------------------------- the scalar fp32 kernel
//
// One warp per (query row, head): head_dim in (128, 256], or any shape the
// tensor-core kernels do not take. Lane i holds dims i, i + 32, ...; exact fp32
// products, online softmax in fp32 with an accurate exp2.

enum class ScalarMode : int { kCausal = 0, kSegments = 1, kDecode = 2 };

struct ScalarArgs {
  const float* q;
  int64_t ldq;
  const void* k;
  const void* v;
  int64_t ldkv;
  float* out;
  int64_t ldo;
  const SeqSpan* spans;
  const int32_t* seg;
  int64_t total_rows;
  int heads, kv_heads, hd;
  float qscale;
};

constexpr int kScalarWarps = 4;

template <bool KV_BF16, ScalarMode MODE>
__global__ void __launch_bounds__(kScalarWarps * 32) attention_scalar_kernel(const ScalarArgs a) {
  constexpr int kPer = kMaxHeadDim / 32;
  const int lane = threadIdx.x & 31;
  const int t = blockIdx.x * kScalarWarps + (threadIdx.x >> 5);
  const int group = blockIdx.y, head = blockIdx.z;
  int64_t row, key0;
  int64_t nkeys;
  if constexpr (MODE == ScalarMode::kSegments) {
    const int64_t sb = a.seg[group], se = min(static_cast<int64_t>(a.seg[group + 1]), a.total_rows);
    if (sb + t >= se) return;
    row = sb + t;
    key0 = sb;
    nkeys = se - sb;
  } else {
    const SeqSpan sp = a.spans[group];
    if (MODE == ScalarMode::kDecode) {
      if (t > 0) return;
      row = group;
      nkeys = sp.key_count;
    } else {
      if (t >= sp.q_count || sp.q_start + int64_t(t) >= a.total_rows) return;
      row = sp.q_start + int64_t(t);
      nkeys = int64_t(sp.key_count) - sp.q_count + t + 1;
    }
    key0 = sp.key_start;
  }
  const int hd = a.hd;
  const int kvh = head / (a.heads / a.kv_heads);
  const float* qp = a.q + row * a.ldq + int64_t(head) * hd;
  float qv[kPer], ov[kPer];
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int d = lane + 32 * i;
    qv[i] = d < hd ? qp[d] * a.qscale : 0.0f;
    ov[i] = 0.0f;
  }
  float mx = -INFINITY, sum = 0.0f;
  for (int64_t j = 0; j < nkeys; ++j) {
    const int64_t base = (key0 + j) * a.ldkv + int64_t(kvh) * hd;
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int d = lane + 32 * i;
      if (d < hd) dot = fmaf(qv[i], load_as_f32<KV_BF16>(a.k, base + d), dot);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, off);
    const float mn = fmaxf(mx, dot);
    const float corr = exp2f(mx - mn);  // mx = -inf on the first key: 0
    const float p = exp2f(dot - mn);
    sum = sum * corr + p;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int d = lane + 32 * i;
      if (d < hd) ov[i] = fmaf(p, load_as_f32<KV_BF16>(a.v, base + d), ov[i] * corr);
    }
    mx = mn;
  }
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  float* dst = a.out + row * a.ldo + int64_t(head) * hd;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int d = lane + 32 * i;
    if (d < hd) dst[d] = ov[i] * inv;
  }
}

// Raises the dynamic shared memory limit of Kernel once per device (a host call, not a
// stream operation: legal while a graph is being captured), then launches it.
template <auto Kernel, typename Args>
inline cudaError_t launch_with_smem(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, const Args& args) {
  if (smem > 48 * 1024) {
    static std::atomic<uint64_t> done{0};  // bit d: set on device d
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) return e;
    const uint64_t bit = dev < 64 ? uint64_t(1) << dev : 0;
    if (bit == 0 || (done.load(std::memory_order_acquire) & bit) == 0) {
      e = cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
      if (e != cudaSuccess) return e;
      done.fetch_or(bit, std::memory_order_acq_rel);
    }
  }
  Kernel<<<grid, block, smem, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace ql::gpu::attn

#endif  // __CUDACC__
