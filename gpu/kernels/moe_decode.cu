// Decode-time MoE expert products (moe_decode.cuh).
//
// Both kernels read each (token, slot)'s expert id from device memory and
// stream only that expert's rows, with 16-, 8- or 4-byte loads per lane that
// are coalesced across the warp, several in flight per lane before any is
// used, and kept out of L1 (weights are read once; x / act stay in L1, where
// all warps of an SM share them). Weights are dequantized in registers:
// NF4 codes index the 16-entry quant map in shared memory (16 consecutive
// words: no bank conflicts), each block scale computed as nf4_block_scale;
// INT8 codes are multiplied with the activation codes by __dp4a in int32.
// Warp xor butterflies finish the dot products (fixed order: deterministic).
//
// gate_up: block = (slot, tile of rows); a warp takes gate rows j .. j+P-1 and
// up rows I+j .. I+j+P-1 as 2P items whose 16-byte chunk c goes to lane c % 32
// in every item, so each x chunk is read once for the 2P rows (for NF4 the x
// reads cost as much L1 bandwidth as the code lookups) and SwiGLU is applied
// to the warp's sums without a round trip to memory.
// down: block = RT output rows for all n tokens; its 8 warps share out the
// n * top_k (token, slot) pairs; lane l takes 8-element units l, l+32, ... of
// the pair's RT rows (768 columns: 96 units, 3 per lane, in every format), so
// its act values are read once for the RT rows. Each pair's row dots go to
// shared memory; after a barrier one thread per output element adds its
// token's slots in slot order: no atomics. Pairs of tokens that chose the same
// expert read the same rows in the same block at about the same time, so they
// hit in L2 and DRAM reads each selected expert's rows once.
//
// Odd shapes, unaligned arrays and INT8 rows over 65536 columns go through a
// plain per-element path (weight_element; INT8 codes directly, int64 sums).
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu/kernels/launch.cuh"
#include "gpu/kernels/moe_decode.cuh"
#include "gpu/kernels/weight_decode.cuh"

namespace ql::gpu {

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr float kInv127 = 1.0f / 127.0f;            // as core/quant/int8_rowwise.h
constexpr float kInv127Squared = 1.0f / 16129.0f;   // as core/quant/int8_matmul.cpp
constexpr int kGuWarps = 4;                         // fast gate_up: warps per block
constexpr int kDnWarps = 8;                         // fast down: warps per block
constexpr int kSlowWarps = 8;
constexpr size_t kMaxDynamicShared = 48 * 1024;     // no opt-in attribute needed
constexpr int64_t kInt8FastMaxCols = 65536;         // int32 row sums cannot overflow

// ---------------------------------------------------------------- loads

// Weights are read once: keep them out of L1 so x / act stay there.
__device__ __forceinline__ uint4 load_weight16(const uint8_t* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

__device__ __forceinline__ float4 load_f4(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }
__device__ __forceinline__ uint4 load_u4(const void* p) { return __ldg(reinterpret_cast<const uint4*>(p)); }

__device__ __forceinline__ uint32_t word_of(const uint4& v, int k) {
  return k == 0 ? v.x : (k == 1 ? v.y : (k == 2 ? v.z : v.w));
}

// ---------------------------------------------------------------- formats

template <WFormat F>
struct Fmt;
template <>
struct Fmt<WFormat::kF32> { static constexpr int kElems = 4; };
template <>
struct Fmt<WFormat::kBF16> { static constexpr int kElems = 8; };
template <>
struct Fmt<WFormat::kF16> { static constexpr int kElems = 8; };
template <>
struct Fmt<WFormat::kInt8> { static constexpr int kElems = 16; };
template <>
struct Fmt<WFormat::kNF4> { static constexpr int kElems = 32; };

// Address of stored element `idx` of matrix m (for NF4 idx is even).
template <WFormat F>
__device__ __forceinline__ const uint8_t* element_ptr(const DeviceWeight& w, int64_t m, int64_t idx) {
  const int64_t numel = w.stored_rows * w.cols;
  if constexpr (F == WFormat::kF32) {
    return static_cast<const uint8_t*>(w.data) + (m * numel + idx) * 4;
  } else if constexpr (F == WFormat::kBF16 || F == WFormat::kF16) {
    return static_cast<const uint8_t*>(w.data) + (m * numel + idx) * 2;
  } else if constexpr (F == WFormat::kInt8) {
    return reinterpret_cast<const uint8_t*>(w.codes) + m * numel + idx;
  } else {
    return w.packed + m * w.packed_stride + idx / 2;
  }
}

template <WFormat F>
__device__ __forceinline__ float2 widen2(uint32_t v) {
  if constexpr (F == WFormat::kBF16) {
    return make_float2(__uint_as_float(v << 16), __uint_as_float(v & 0xffff0000u));  // element 0 in the low half
  } else {
    return make_float2(__half2float(__ushort_as_half(static_cast<unsigned short>(v & 0xffffu))),
                       __half2float(__ushort_as_half(static_cast<unsigned short>(v >> 16))));
  }
}

// p[i] = chunk i's elements . x[0, kElems) (fp32, x 16-byte aligned).
template <WFormat F, int NI>
__device__ __forceinline__ void dense_chunk(const uint4 (&w)[NI], const float* xp, float (&p)[NI]) {
  if constexpr (F == WFormat::kF32) {
    const float4 a = load_f4(xp);
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      float s = __fmul_rn(__uint_as_float(w[i].x), a.x);
      s = fmaf(__uint_as_float(w[i].y), a.y, s);
      s = fmaf(__uint_as_float(w[i].z), a.z, s);
      p[i] = fmaf(__uint_as_float(w[i].w), a.w, s);
    }
  } else {
    const float4 a = load_f4(xp), b = load_f4(xp + 4);
    const float xs[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      float s = 0.0f;
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const float2 f = widen2<F>(word_of(w[i], k));
        s = fmaf(f.x, xs[2 * k], s);
        s = fmaf(f.y, xs[2 * k + 1], s);
      }
      p[i] = s;
    }
  }
}

// NF4: 32 elements, the first of each byte in its high nibble; each weight is
// quant_map[code] * scale rounded to fp32 (as nf4_element), then used.
template <int NI>
__device__ __forceinline__ void nf4_chunk(const uint4 (&w)[NI], const float (&scale)[NI], const float* xp,
                                          const float* qmap, float (&p)[NI]) {
#pragma unroll
  for (int i = 0; i < NI; ++i) p[i] = 0.0f;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float4 a = load_f4(xp + 8 * k), b = load_f4(xp + 8 * k + 4);
    const float xs[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      const uint32_t v = word_of(w[i], k);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint32_t byte = (v >> (8 * j)) & 0xffu;
        p[i] = fmaf(__fmul_rn(qmap[byte >> 4], scale[i]), xs[2 * j], p[i]);
        p[i] = fmaf(__fmul_rn(qmap[byte & 15u], scale[i]), xs[2 * j + 1], p[i]);
      }
    }
  }
}

// INT8: 16 weight codes . 16 activation codes, exact in int32.
template <int NI>
__device__ __forceinline__ void int8_chunk(const uint4 (&w)[NI], const int8_t* xq, int (&p)[NI]) {
  const uint4 a = load_u4(xq);
#pragma unroll
  for (int i = 0; i < NI; ++i) {
    int s = __dp4a(static_cast<int>(w[i].x), static_cast<int>(a.x), 0);
    s = __dp4a(static_cast<int>(w[i].y), static_cast<int>(a.y), s);
    s = __dp4a(static_cast<int>(w[i].z), static_cast<int>(a.z), s);
    p[i] = __dp4a(static_cast<int>(w[i].w), static_cast<int>(a.w), s);
  }
}

// LLM.int8's result for one (activation row, weight row), in the order of
// core/quant/int8_matmul.cpp: the int8 part, then the outlier columns ascending.
__device__ __forceinline__ float int8_finish(float acc, float xabsmax, float scb, const int8_t* wrow,
                                             const float* xrow, const int32_t* outliers, int count) {
  float sum = __fmul_rn(acc, __fmul_rn(__fmul_rn(xabsmax, scb), kInv127Squared));
  for (int k = 0; k < count; ++k) {
    const int32_t c = __ldg(outliers + k);
    const float ow = __fmul_rn(__fmul_rn(static_cast<float>(wrow[c]), scb), kInv127);
    sum = __fadd_rn(sum, __fmul_rn(__ldg(xrow + c), ow));
  }
  return sum;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}
__device__ __forceinline__ int warp_sum(int v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}
__device__ __forceinline__ long long warp_sum(long long v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

__device__ __forceinline__ int64_t clamp_expert(int32_t e, int64_t stack) {
  return e < 0 ? 0 : (e >= stack ? stack - 1 : e);
}

// silu(g) * u exactly as cpu_moe.cpp writes it: g / (1 + exp(-g)) * u.
__device__ __forceinline__ float swiglu(float g, float u) {
  return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), u);
}

// Where a row's outlier list lives (kPerRow: its own; kUnion: the shared one).
__device__ __forceinline__ const int32_t* outlier_list(const int32_t* cols, int64_t row, int64_t ncols, bool per_row) {
  return cols + (per_row ? row * ncols : 0);
}
__device__ __forceinline__ int outlier_count(const int32_t* counts, int64_t row, bool per_row) {
  return __ldg(counts + (per_row ? row : 0));
}

__device__ __forceinline__ void load_nf4_maps(const DeviceWeight& w, float* qmap, float* nmap) {
  for (int i = threadIdx.x; i < 256; i += blockDim.x) nmap[i] = __ldg(w.nested_map + i);
  if (threadIdx.x < 16) qmap[threadIdx.x] = __ldg(w.quant_map + threadIdx.x);
}

// ---------------------------------------------------------------- gate_up

struct GateUpArgs {
  DeviceWeight w;
  const float* x;
  int64_t ldx;
  const int32_t* ids;
  int top_k;
  const int8_t* xcodes;  // INT8: [n, H]
  const float* xabsmax;
  const int32_t* ocount;
  const int32_t* ocols;
  bool per_row;
  float* act;
  int64_t inter;
  int64_t hidden;
  int64_t tiles;
};

// Block (slot, tiles): warp w of tile y takes gate rows [j, j + P) and the same
// up rows, j = (y * kGuWarps + w) * P: 2P single-row items whose chunk c is
// taken by lane c % 32 in every item, so each x chunk is loaded once for all
// 2P rows (for NF4 the x reads cost as much L1 bandwidth as the code lookups).
template <WFormat F, int P, int U>
__global__ void __launch_bounds__(kGuWarps * 32) moe_gate_up_fast(const GateUpArgs a) {
  constexpr int E = Fmt<F>::kElems;
  constexpr int NI = 2 * P;  // items [0, P): gate rows; [P, 2P): up rows
  constexpr bool kNf4 = F == WFormat::kNF4;
  constexpr bool kInt8 = F == WFormat::kInt8;
  __shared__ float s_qmap[16];
  __shared__ float s_nmap[256];
  if constexpr (kNf4) {
    load_nf4_maps(a.w, s_qmap, s_nmap);
    __syncthreads();
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t slot = blockIdx.x;
  const int64_t t = slot / a.top_k;
  const int64_t e = clamp_expert(__ldg(a.ids + slot), a.w.stack);
  const int64_t H = a.hidden, I = a.inter;
  const int C = static_cast<int>(H / E);  // chunks per row
  const float* xrow = a.x + t * a.ldx;
  const int8_t* xc = kInt8 ? a.xcodes + t * H : nullptr;
  const uint8_t* amax = nullptr;
  const float* nest = nullptr;
  float offset = 0.0f;
  if constexpr (kNf4) {
    amax = a.w.absmax_codes + e * a.w.absmax_stride;
    nest = a.w.nested_absmax + e * a.w.nested_stride;
    offset = __ldg(a.w.offset + e);
  }

  for (int64_t tile = blockIdx.y; tile < a.tiles; tile += gridDim.y) {
    const int64_t j0 = (tile * kGuWarps + warp) * P;
    if (j0 >= I) continue;  // the same for the whole warp
    const int rows = static_cast<int>(I - j0 < P ? I - j0 : P);
    const uint8_t* base[NI];
    int64_t blk0[NI];
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      const int r = i < P ? i : i - P;
      // A row past the end (r >= rows) points at row j0, is never loaded, and its result is dropped.
      const int64_t srow = a.w.first_row + (i < P ? 0 : I) + j0 + (r < rows ? r : 0);
      base[i] = element_ptr<F>(a.w, e, srow * H);
      blk0[i] = srow * H / 64;
    }

    float acc[NI];
    int iacc[NI];
#pragma unroll
    for (int i = 0; i < NI; ++i) {
      acc[i] = 0.0f;
      iacc[i] = 0;
    }
    for (int q0 = 0; q0 < C; q0 += 32 * U) {
      uint4 wv[U][NI];
      uint32_t code[U][NI];
      float nes[U][NI];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int q = q0 + u * 32 + lane;
#pragma unroll
        for (int i = 0; i < NI; ++i) {
          const bool ok = q < C && (i < P ? i : i - P) < rows;
          wv[u][i] = ok ? load_weight16(base[i] + static_cast<int64_t>(q) * 16) : make_uint4(0, 0, 0, 0);
          if constexpr (kNf4) {
            const int64_t b = blk0[i] + q / 2;
            code[u][i] = ok ? __ldg(amax + b) : 0u;
            nes[u][i] = ok ? __ldg(nest + b / kNf4NestedBlock) : 0.0f;
          }
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int q = q0 + u * 32 + lane;
        if (q < C) {
          const int64_t col = static_cast<int64_t>(q) * E;
          if constexpr (kInt8) {
            int p[NI];
            int8_chunk<NI>(wv[u], xc + col, p);
#pragma unroll
            for (int i = 0; i < NI; ++i) iacc[i] += p[i];
          } else {
            float p[NI];
            if constexpr (kNf4) {
              float s[NI];
#pragma unroll
              for (int i = 0; i < NI; ++i) s[i] = __fadd_rn(__fmul_rn(s_nmap[code[u][i]], nes[u][i]), offset);
              nf4_chunk<NI>(wv[u], s, xrow + col, s_qmap, p);
            } else {
              dense_chunk<F, NI>(wv[u], xrow + col, p);
            }
#pragma unroll
            for (int i = 0; i < NI; ++i) acc[i] += p[i];
          }
        }
      }
    }

    // Every lane gets every row's sums; lane r < rows finishes row j0 + r.
    float g = 0.0f, u = 0.0f;
    int ig = 0, iu = 0;
#pragma unroll
    for (int r = 0; r < P; ++r) {
      if constexpr (kInt8) {
        const int sg = warp_sum(iacc[r]), su = warp_sum(iacc[P + r]);
        if (lane == r) {
          ig = sg;
          iu = su;
        }
      } else {
        const float sg = warp_sum(acc[r]), su = warp_sum(acc[P + r]);
        if (lane == r) {
          g = sg;
          u = su;
        }
      }
    }
    if (lane < rows) {
      const int64_t j = j0 + lane;
      if constexpr (kInt8) {
        const int64_t numel = a.w.stored_rows * H;
        const int64_t grow = a.w.first_row + j, urow = a.w.first_row + I + j;  // stored rows
        const float scg = __ldg(a.w.scb + e * a.w.stored_rows + grow);
        const float scu = __ldg(a.w.scb + e * a.w.stored_rows + urow);
        const float xa = __ldg(a.xabsmax + t);
        const int32_t* list = outlier_list(a.ocols, t, H, a.per_row);
        const int count = outlier_count(a.ocount, t, a.per_row);
        const int8_t* codes = a.w.codes + e * numel;
        g = int8_finish(__int2float_rn(ig), xa, scg, codes + grow * H, xrow, list, count);
        u = int8_finish(__int2float_rn(iu), xa, scu, codes + urow * H, xrow, list, count);
      }
      a.act[slot * I + j] = swiglu(g, u);
    }
  }
}

// One warp per (slot, j), lanes over the columns; any shape and alignment.
__global__ void __launch_bounds__(kSlowWarps * 32) moe_gate_up_slow(const GateUpArgs a) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t slot = blockIdx.x;
  const int64_t t = slot / a.top_k;
  const int64_t e = clamp_expert(__ldg(a.ids + slot), a.w.stack);
  const int64_t H = a.hidden, I = a.inter;
  const float* xrow = a.x + t * a.ldx;
  const bool int8 = a.w.format == WFormat::kInt8;
  for (int64_t tile = blockIdx.y; tile < a.tiles; tile += gridDim.y) {
    const int64_t j = tile * kSlowWarps + warp;
    if (j >= I) continue;
    float g, u;
    if (int8) {
      const int64_t numel = a.w.stored_rows * H;
      const int64_t grow = a.w.first_row + j, urow = a.w.first_row + I + j;
      const int8_t* cg = a.w.codes + e * numel + grow * H;
      const int8_t* cu = a.w.codes + e * numel + urow * H;
      const int8_t* xc = a.xcodes + t * H;
      long long sg = 0, su = 0;
      for (int64_t c = lane; c < H; c += 32) {
        const int xv = xc[c];
        sg += static_cast<int>(cg[c]) * xv;
        su += static_cast<int>(cu[c]) * xv;
      }
      sg = warp_sum(sg);
      su = warp_sum(su);
      const float scg = a.w.scb[e * a.w.stored_rows + grow], scu = a.w.scb[e * a.w.stored_rows + urow];
      const float xa = a.xabsmax[t];
      const int32_t* list = outlier_list(a.ocols, t, H, a.per_row);
      const int count = outlier_count(a.ocount, t, a.per_row);
      g = int8_finish(__ll2float_rn(sg), xa, scg, cg, xrow, list, count);
      u = int8_finish(__ll2float_rn(su), xa, scu, cu, xrow, list, count);
    } else {
      g = 0.0f;
      u = 0.0f;
      for (int64_t c = lane; c < H; c += 32) {
        const float xv = xrow[c];
        g = fmaf(weight_element(a.w, e, j, c), xv, g);
        u = fmaf(weight_element(a.w, e, I + j, c), xv, u);
      }
      g = warp_sum(g);
      u = warp_sum(u);
    }
    if (lane == 0) a.act[slot * I + j] = swiglu(g, u);
  }
}

// ---------------------------------------------------------------- down

struct DownArgs {
  DeviceWeight w;
  const float* act;  // [n * top_k, I]
  int64_t n;
  const int32_t* ids;
  const float* weights;
  int top_k;
  const int8_t* acodes;  // INT8: [n * top_k, I]
  const float* aabsmax;
  const int32_t* ocount;
  const int32_t* ocols;
  bool per_row;
  float* out;
  int64_t ldo;
  bool accumulate;
  int64_t hidden;
  int64_t inter;
};

// The down kernel's unit of weight loads: per lane, one unit of 8 elements
// (fp32: 4), so that a row of 768 columns is 96 units, 3 per lane, whatever the
// format; the lane keeps its x values and reuses them for all RT rows.
template <WFormat F>
struct Unit;
template <>
struct Unit<WFormat::kF32> { using W = uint4; static constexpr int kBytes = 16, kElems = 4; };
template <>
struct Unit<WFormat::kBF16> { using W = uint4; static constexpr int kBytes = 16, kElems = 8; };
template <>
struct Unit<WFormat::kF16> { using W = uint4; static constexpr int kBytes = 16, kElems = 8; };
template <>
struct Unit<WFormat::kInt8> { using W = uint2; static constexpr int kBytes = 8, kElems = 8; };
template <>
struct Unit<WFormat::kNF4> { using W = uint32_t; static constexpr int kBytes = 4, kElems = 8; };

__device__ __forceinline__ void load_unit(const uint8_t* p, uint4& v) { v = load_weight16(p); }
__device__ __forceinline__ void load_unit(const uint8_t* p, uint2& v) {
  asm("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(p));
}
__device__ __forceinline__ void load_unit(const uint8_t* p, uint32_t& v) {
  asm("ld.global.nc.L1::no_allocate.u32 %0, [%1];" : "=r"(v) : "l"(p));
}
__device__ __forceinline__ void zero_unit(uint4& v) { v = make_uint4(0, 0, 0, 0); }
__device__ __forceinline__ void zero_unit(uint2& v) { v = make_uint2(0, 0); }
__device__ __forceinline__ void zero_unit(uint32_t& v) { v = 0; }

// One unit's elements . xs (fp32; NF4 weights quant_map[code] * scale as nf4_element).
template <WFormat F>
__device__ __forceinline__ float unit_dot(const typename Unit<F>::W& w, const float (&xs)[Unit<F>::kElems],
                                          float scale, const float* qmap) {
  if constexpr (F == WFormat::kF32) {
    float s = __fmul_rn(__uint_as_float(w.x), xs[0]);
    s = fmaf(__uint_as_float(w.y), xs[1], s);
    s = fmaf(__uint_as_float(w.z), xs[2], s);
    return fmaf(__uint_as_float(w.w), xs[3], s);
  } else if constexpr (F == WFormat::kBF16 || F == WFormat::kF16) {
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = widen2<F>(word_of(w, k));
      s = fmaf(f.x, xs[2 * k], s);
      s = fmaf(f.y, xs[2 * k + 1], s);
    }
    return s;
  } else {
    static_assert(F == WFormat::kNF4, "INT8 units use unit_idot");
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t byte = (w >> (8 * j)) & 0xffu;
      s = fmaf(__fmul_rn(qmap[byte >> 4], scale), xs[2 * j], s);
      s = fmaf(__fmul_rn(qmap[byte & 15u], scale), xs[2 * j + 1], s);
    }
    return s;
  }
}

__device__ __forceinline__ int unit_idot(const uint2& w, const uint2& xq) {
  return __dp4a(static_cast<int>(w.y), static_cast<int>(xq.y), __dp4a(static_cast<int>(w.x), static_cast<int>(xq.x), 0));
}

// out[t, o0 + r] for r < rows, all t. Warps take the (token, slot) pairs PU at
// a time; lane l takes units l, l + 32, ... of the pairs' RT rows (loads of
// PU * RT units in flight), with the pair's x values for its units loaded once
// for all RT rows. NF4: in each 32-unit step lane l computes the scale of row
// l / 4, block l % 4 of the step (8 rows x 4 blocks: one scale per lane, each
// once), and every lane fetches its blocks' scales by shuffle.
template <WFormat F, int RT, int PU, int UC>
__global__ void __launch_bounds__(kDnWarps * 32) moe_down_fast(const DownArgs a) {
  using W = typename Unit<F>::W;
  constexpr int UB = Unit<F>::kBytes, EU = Unit<F>::kElems;
  constexpr bool kNf4 = F == WFormat::kNF4;
  constexpr bool kInt8 = F == WFormat::kInt8;
  static_assert(PU * RT <= 32, "one lane per (pair, row) result");
  static_assert(!kNf4 || RT == 8, "NF4 scales: 8 rows x 4 blocks of a step, one per lane");
  extern __shared__ float s_dots[];  // [n * top_k][RT]
  __shared__ float s_qmap[16];
  __shared__ float s_nmap[256];
  if constexpr (kNf4) {
    load_nf4_maps(a.w, s_qmap, s_nmap);
    __syncthreads();
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t H = a.hidden, I = a.inter;
  const int64_t o0 = static_cast<int64_t>(blockIdx.x) * RT;
  const int rows = static_cast<int>(H - o0 < RT ? H - o0 : RT);
  const int CU = static_cast<int>(I / EU);  // units per row
  const int64_t row_bytes = static_cast<int64_t>(CU) * UB;
  const int64_t ridx = (a.w.first_row + o0) * I;  // stored element index of row o0
  const int nk = static_cast<int>(a.n * a.top_k);

  for (int p0 = warp * PU; p0 < nk; p0 += kDnWarps * PU) {
    bool live[PU];
    int64_t e[PU];
    const uint8_t* base[PU];
    const float* arow[PU];
    const int8_t* acode[PU];
    const uint8_t* amax[PU];
    const float* nest[PU];
    float offs[PU];
#pragma unroll
    for (int i = 0; i < PU; ++i) {
      const int p = p0 + i;
      live[i] = p < nk;
      e[i] = live[i] ? clamp_expert(__ldg(a.ids + p), a.w.stack) : 0;
      base[i] = element_ptr<F>(a.w, e[i], ridx);
      arow[i] = a.act + static_cast<int64_t>(p) * I;
      acode[i] = kInt8 ? a.acodes + static_cast<int64_t>(p) * I : nullptr;
      if constexpr (kNf4) {
        amax[i] = a.w.absmax_codes + e[i] * a.w.absmax_stride;
        nest[i] = a.w.nested_absmax + e[i] * a.w.nested_stride;
        offs[i] = __ldg(a.w.offset + e[i]);
      } else {
        amax[i] = nullptr;
        nest[i] = nullptr;
        offs[i] = 0.0f;
      }
    }
    float acc[PU][RT];
    int iacc[PU][RT];
#pragma unroll
    for (int i = 0; i < PU; ++i)
#pragma unroll
      for (int r = 0; r < RT; ++r) {
        acc[i][r] = 0.0f;
        iacc[i][r] = 0;
      }
    for (int w0 = 0; w0 < CU; w0 += 32 * UC) {
      W wv[UC][PU][RT];
#pragma unroll
      for (int c = 0; c < UC; ++c) {
        const int u = w0 + 32 * c + lane;
#pragma unroll
        for (int i = 0; i < PU; ++i)
#pragma unroll
          for (int r = 0; r < RT; ++r) {
            if (u < CU && live[i] && r < rows)
              load_unit(base[i] + r * row_bytes + static_cast<int64_t>(u) * UB, wv[c][i][r]);
            else
              zero_unit(wv[c][i][r]);
          }
      }
      float sc[UC][PU];
      if constexpr (kNf4) {
        const int sr = lane >> 2;  // the row and block whose scale this lane computes
#pragma unroll
        for (int c = 0; c < UC; ++c) {
          const int sb = ((w0 + 32 * c) >> 3) + (lane & 3);  // block within the row (8 units a block)
          const bool sok = sr < rows && sb * 8 < CU;
          const int64_t b = ridx / kNf4Block + static_cast<int64_t>(sr) * (I / kNf4Block) + sb;
#pragma unroll
          for (int i = 0; i < PU; ++i) {
            const bool ok = sok && live[i];
            const uint32_t code = ok ? __ldg(amax[i] + b) : 0u;
            const float nes = ok ? __ldg(nest[i] + b / kNf4NestedBlock) : 0.0f;
            sc[c][i] = __fadd_rn(__fmul_rn(s_nmap[code], nes), offs[i]);
          }
        }
      }
#pragma unroll
      for (int c = 0; c < UC; ++c) {
        const int u = w0 + 32 * c + lane;
        const bool uok = u < CU;
#pragma unroll
        for (int i = 0; i < PU; ++i) {
          if (!live[i]) continue;  // the same for the whole warp
          if constexpr (kInt8) {
            uint2 xq = make_uint2(0, 0);
            if (uok) xq = __ldg(reinterpret_cast<const uint2*>(acode[i] + static_cast<int64_t>(u) * EU));
#pragma unroll
            for (int r = 0; r < RT; ++r)
              if (uok && r < rows) iacc[i][r] += unit_idot(wv[c][i][r], xq);
          } else {
            float xs[EU];
#pragma unroll
            for (int k = 0; k < EU; ++k) xs[k] = 0.0f;
            if (uok) {
#pragma unroll
              for (int k = 0; k < EU; k += 4) {
                const float4 v = load_f4(arow[i] + static_cast<int64_t>(u) * EU + k);
                xs[k] = v.x;
                xs[k + 1] = v.y;
                xs[k + 2] = v.z;
                xs[k + 3] = v.w;
              }
            }
#pragma unroll
            for (int r = 0; r < RT; ++r) {
              float sr = 0.0f;
              if constexpr (kNf4) sr = __shfl_sync(kFull, sc[c][i], r * 4 + (lane >> 3));  // all lanes, before the guard
              if (uok && r < rows) acc[i][r] += unit_dot<F>(wv[c][i][r], xs, sr, s_qmap);
            }
          }
        }
      }
    }

    // Lane li * RT + lr holds pair p0 + li, row lr.
    const int li = lane / RT, lr = lane % RT;
    float v = 0.0f;
    int iv = 0;
    int64_t el = 0;
#pragma unroll
    for (int i = 0; i < PU; ++i) {
      if (li == i) el = e[i];
#pragma unroll
      for (int r = 0; r < RT; ++r) {
        if constexpr (kInt8) {
          const int s = warp_sum(iacc[i][r]);
          if (li == i && lr == r) iv = s;
        } else {
          const float s = warp_sum(acc[i][r]);
          if (li == i && lr == r) v = s;
        }
      }
    }
    const int p = p0 + li;
    if (li < PU && p < nk && lr < rows) {
      if constexpr (kInt8) {
        const int64_t orow = a.w.first_row + o0 + lr;  // stored row
        const float scb = __ldg(a.w.scb + el * a.w.stored_rows + orow);
        const int8_t* wrow = a.w.codes + el * (a.w.stored_rows * I) + orow * I;
        v = int8_finish(__int2float_rn(iv), __ldg(a.aabsmax + p), scb, wrow, a.act + static_cast<int64_t>(p) * I,
                        outlier_list(a.ocols, p, I, a.per_row), outlier_count(a.ocount, p, a.per_row));
      }
      s_dots[p * RT + lr] = v;
    }
  }
  __syncthreads();

  // One thread per output element: the token's slots in slot order.
  for (int64_t idx = threadIdx.x; idx < a.n * rows; idx += blockDim.x) {
    const int64_t t = idx / rows;
    const int r = static_cast<int>(idx % rows);
    float sum = 0.0f;
    for (int s = 0; s < a.top_k; ++s) {
      const int64_t p = t * a.top_k + s;
      sum = __fadd_rn(sum, __fmul_rn(__ldg(a.weights + p), s_dots[p * RT + r]));
    }
    float* o = a.out + t * a.ldo + o0 + r;
    *o = a.accumulate ? __fadd_rn(*o, sum) : sum;
  }
}

// One warp per output element (t, o), lanes over the columns; any shape.
__global__ void __launch_bounds__(kSlowWarps * 32) moe_down_slow(const DownArgs a) {
  const int lane = threadIdx.x & 31;
  const int64_t H = a.hidden, I = a.inter;
  const bool int8 = a.w.format == WFormat::kInt8;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kSlowWarps;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * kSlowWarps + (threadIdx.x >> 5); idx < a.n * H;
       idx += warps) {
    const int64_t t = idx / H, o = idx % H;
    float sum = 0.0f;
    for (int s = 0; s < a.top_k; ++s) {
      const int64_t p = t * a.top_k + s;
      const int64_t e = clamp_expert(__ldg(a.ids + p), a.w.stack);
      const float* arow = a.act + p * I;
      float d;
      if (int8) {
        const int64_t orow = a.w.first_row + o;
        const int8_t* wrow = a.w.codes + e * (a.w.stored_rows * I) + orow * I;
        const int8_t* ac = a.acodes + p * I;
        long long acc = 0;
        for (int64_t c = lane; c < I; c += 32) acc += static_cast<int>(wrow[c]) * static_cast<int>(ac[c]);
        acc = warp_sum(acc);  // every lane finishes the same value
        d = int8_finish(__ll2float_rn(acc), a.aabsmax[p], a.w.scb[e * a.w.stored_rows + orow], wrow, arow,
                        outlier_list(a.ocols, p, I, a.per_row), outlier_count(a.ocount, p, a.per_row));
      } else {
        d = 0.0f;
        for (int64_t c = lane; c < I; c += 32) d = fmaf(weight_element(a.w, e, o, c), arow[c], d);
        d = warp_sum(d);
      }
      sum = __fadd_rn(sum, __fmul_rn(a.weights[p], d));
    }
    if (lane == 0) {
      float* out = a.out + t * a.ldo + o;
      *out = a.accumulate ? __fadd_rn(*out, sum) : sum;
    }
  }
}

// ---------------------------------------------------------------- host side

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

bool weight_fast_ok(const DeviceWeight& w) {
  if (w.cols % 64 != 0 || w.first_row < 0) return false;
  switch (w.format) {
    case WFormat::kF32:
    case WFormat::kBF16:
    case WFormat::kF16: return aligned16(w.data);
    case WFormat::kInt8: return aligned16(w.codes) && w.cols <= kInt8FastMaxCols;
    case WFormat::kNF4: return aligned16(w.packed) && w.packed_stride % 16 == 0;
  }
  return false;
}

bool weight_complete(const DeviceWeight& w) {
  switch (w.format) {
    case WFormat::kF32:
    case WFormat::kBF16:
    case WFormat::kF16: return w.data != nullptr;
    case WFormat::kInt8: return w.codes != nullptr && w.scb != nullptr;
    case WFormat::kNF4:
      return w.packed != nullptr && w.absmax_codes != nullptr && w.nested_absmax != nullptr && w.offset != nullptr &&
             w.quant_map != nullptr && w.nested_map != nullptr;
  }
  return false;
}

bool int8_acts_ok(const Int8Activations* q, int64_t rows, int64_t cols) {
  return q != nullptr && q->codes != nullptr && q->absmax != nullptr && q->outlier_count != nullptr &&
         q->outlier_cols != nullptr && q->rows >= rows && q->cols == cols;
}

unsigned grid_y(int64_t tiles) { return static_cast<unsigned>(tiles < 65535 ? tiles : 65535); }

template <WFormat F, int P, int U>
void gate_up_fast(GateUpArgs a, int64_t nk, cudaStream_t stream) {
  a.tiles = (a.inter + kGuWarps * P - 1) / (kGuWarps * P);
  const dim3 grid(static_cast<unsigned>(nk), grid_y(a.tiles));
  moe_gate_up_fast<F, P, U><<<grid, kGuWarps * 32, 0, stream>>>(a);
}

template <WFormat F, int RT, int PU, int UC>
void down_fast(const DownArgs& a, size_t shared, cudaStream_t stream) {
  const int64_t blocks = (a.hidden + RT - 1) / RT;
  moe_down_fast<F, RT, PU, UC><<<static_cast<unsigned>(blocks), kDnWarps * 32, shared, stream>>>(a);
}

// Output rows per block of the down kernel (for its shared-memory size).
constexpr int kDownRowsDense = 4, kDownRowsInt8 = 8, kDownRowsNf4 = 8;
int down_rows(WFormat f) {
  return f == WFormat::kNF4 ? kDownRowsNf4 : (f == WFormat::kInt8 ? kDownRowsInt8 : kDownRowsDense);
}

}  // namespace

cudaError_t launch_moe_gate_up(const DeviceWeight& gate_up, const float* x, int64_t ldx, int64_t n,
                               const int32_t* ids, int top_k, const Int8Activations* xq, float* act,
                               cudaStream_t stream) {
  const DeviceWeight& w = gate_up;
  if (n < 1 || n > kMoeDecodeMaxTokens || top_k < 1 || w.rows < 2 || w.rows % 2 != 0 || w.cols < 1 || w.stack < 1 ||
      w.first_row < 0 || w.first_row + w.rows > w.stored_rows || ldx < w.cols || x == nullptr || ids == nullptr ||
      act == nullptr || !weight_complete(w))
    return cudaErrorInvalidValue;
  const bool int8 = w.format == WFormat::kInt8;
  if (int8 && !int8_acts_ok(xq, n, w.cols)) return cudaErrorInvalidValue;
  const int64_t nk = n * top_k;
  if (nk > 0x7fffffffLL) return cudaErrorInvalidValue;

  GateUpArgs a{};
  a.w = w;
  a.x = x;
  a.ldx = ldx;
  a.ids = ids;
  a.top_k = top_k;
  if (int8) {
    a.xcodes = xq->codes;
    a.xabsmax = xq->absmax;
    a.ocount = xq->outlier_count;
    a.ocols = xq->outlier_cols;
    a.per_row = xq->mode == OutlierMode::kPerRow;
  }
  a.act = act;
  a.inter = w.rows / 2;
  a.hidden = w.cols;

  const bool fast = weight_fast_ok(w) && (int8 ? aligned16(xq->codes) : (aligned16(x) && ldx % 4 == 0));
  if (fast) {
    switch (w.format) {
      case WFormat::kF32: gate_up_fast<WFormat::kF32, 1, 4>(a, nk, stream); break;
      case WFormat::kBF16: gate_up_fast<WFormat::kBF16, 1, 4>(a, nk, stream); break;
      case WFormat::kF16: gate_up_fast<WFormat::kF16, 1, 4>(a, nk, stream); break;
      case WFormat::kInt8: gate_up_fast<WFormat::kInt8, 1, 4>(a, nk, stream); break;
      case WFormat::kNF4: gate_up_fast<WFormat::kNF4, 2, 2>(a, nk, stream); break;
    }
  } else {
    a.tiles = (a.inter + kSlowWarps - 1) / kSlowWarps;
    const dim3 grid(static_cast<unsigned>(nk), grid_y(a.tiles));
    moe_gate_up_slow<<<grid, kSlowWarps * 32, 0, stream>>>(a);
  }
  return launch_status();
}

cudaError_t launch_moe_down(const DeviceWeight& down, const float* act, int64_t n, const int32_t* ids,
                            const float* weights, int top_k, const Int8Activations* actq, float* out, int64_t ldo,
                            bool accumulate, cudaStream_t stream) {
  const DeviceWeight& w = down;
  if (n < 1 || n > kMoeDecodeMaxTokens || top_k < 1 || w.rows < 1 || w.cols < 1 || w.stack < 1 || w.first_row < 0 ||
      w.first_row + w.rows > w.stored_rows || ldo < w.rows || act == nullptr || ids == nullptr ||
      weights == nullptr || out == nullptr || !weight_complete(w))
    return cudaErrorInvalidValue;
  const bool int8 = w.format == WFormat::kInt8;
  const int64_t nk = n * top_k;
  if (nk > 0x7fffffffLL) return cudaErrorInvalidValue;
  if (int8 && !int8_acts_ok(actq, nk, w.cols)) return cudaErrorInvalidValue;

  DownArgs a{};
  a.w = w;
  a.act = act;
  a.n = n;
  a.ids = ids;
  a.weights = weights;
  a.top_k = top_k;
  if (int8) {
    a.acodes = actq->codes;
    a.aabsmax = actq->absmax;
    a.ocount = actq->outlier_count;
    a.ocols = actq->outlier_cols;
    a.per_row = actq->mode == OutlierMode::kPerRow;
  }
  a.out = out;
  a.ldo = ldo;
  a.accumulate = accumulate;
  a.hidden = w.rows;
  a.inter = w.cols;

  const size_t shared = static_cast<size_t>(nk) * down_rows(w.format) * sizeof(float);
  const bool fast = weight_fast_ok(w) && shared + 2048 <= kMaxDynamicShared &&
                    (int8 ? aligned16(actq->codes) : aligned16(act));
  if (fast) {
    switch (w.format) {
      case WFormat::kF32: down_fast<WFormat::kF32, kDownRowsDense, 1, 3>(a, shared, stream); break;
      case WFormat::kBF16: down_fast<WFormat::kBF16, kDownRowsDense, 1, 3>(a, shared, stream); break;
      case WFormat::kF16: down_fast<WFormat::kF16, kDownRowsDense, 1, 3>(a, shared, stream); break;
      case WFormat::kInt8: down_fast<WFormat::kInt8, kDownRowsInt8, 1, 3>(a, shared, stream); break;
      case WFormat::kNF4: down_fast<WFormat::kNF4, kDownRowsNf4, 1, 3>(a, shared, stream); break;
    }
  } else {
    moe_down_slow<<<blocks_for(n * w.rows, kSlowWarps), kSlowWarps * 32, 0, stream>>>(a);
  }
  return launch_status();
}

}  // namespace ql::gpu
