// Grouped tensor-core GEMM over every weight format (grouped_gemm.cuh).
//
// One CTA (4 warps) computes a tile of 128 weight rows x 64 pairs of one group
// (swiglu: 64 gate rows + the 64 matching up rows), looping over K in steps of
// 64. The grid is a flat tile list: CTA L finds its (group, n-tile, m-tile)
// from the offsets itself (one warp scans them), so empty groups have no
// tiles. Inside a group the n-tiles of one m-tile are neighbours: they share
// its x rows in L2, and a weight tile is re-read by the group's next m-tile
// soon after (L2 hits). A group of <= 64 rows reads its weights once; those
// streams are marked evict-first so that they do not push x out of L2.
//
// MMA: mma.sync m16n8k16 with the W tile as the A operand (rows = outputs)
// and the x rows as B (columns = pairs), so a small group only shortens B;
// 16-pair column blocks past the group's end are skipped. Shared tiles hold
// 128-byte rows of 16-bit values whose 16-byte chunks are XOR-swizzled by the
// row (chunk c of row r at c ^ (r & 7)): ldmatrix reads 8 rows of one chunk
// without bank conflicts.
//
// Fast path: a 3-stage cp.async pipeline of raw W tiles (bf16/f16: used by
// ldmatrix as they are; int8, nf4: decoded by one thread per tile row into a
// bf16 tile, bit-exact with weight_element) and raw fp32 x tiles (rounded to
// bf16 into an x tile per k-step). Generic path: the same MMA and epilogue on
// tiles filled element by element (element_of = weight_element) (any shape and
// alignment, kF32 weights).
#include "gpu/kernels/grouped_gemm.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>

#include "gpu/kernels/device_weight.h"
#include "gpu/kernels/launch.cuh"

namespace ql::gpu {
namespace {

constexpr int kThreads = 128;
constexpr int kBN = 128;  // W rows per tile
constexpr int kBM = 64;   // pairs per tile
constexpr int kBK = 64;   // k per step
constexpr int kStages = 3;
constexpr int kRowBytes = kBK * 2;             // one 16-bit tile row: 8 chunks of 16 bytes
constexpr int kXbBytes = kBM * kRowBytes;      // x tile, 16-bit
constexpr int kWbBytes = kBN * kRowBytes;      // decoded W tile, 16-bit
constexpr int kXRawRowBytes = kBK * 4;         // fp32 x row of a k-step
constexpr int kXRawBytes = kBM * kXRawRowBytes;
constexpr int64_t kNf4MaxK = 16384;            // NF4 fast path: absmax span in shared memory
constexpr float kInv127f = 1.0f / 127.0f;      // as weight_decode.cuh's int8_element
constexpr int64_t kNf4Blk = 64;                // NF4 block, nested block (device_weight.h)
constexpr int64_t kNf4NestedBlk = 256;

// ---- element decode --------------------------------------------------------------------
// The same arithmetic as weight_decode.cuh's weight_element (that header is not
// includable in device code while DeviceWeight's members lack __device__; see
// the report), written against the plain fields.

__device__ __forceinline__ int64_t numel_of(const DeviceWeight& w) { return w.stored_rows * w.cols; }

__device__ __forceinline__ float nf4_scale_of(const DeviceWeight& w, int64_t m, int64_t b) {
  const uint8_t code = w.absmax_codes[m * w.absmax_stride + b];
  const float nested = w.nested_absmax[m * w.nested_stride + b / kNf4NestedBlk];
  return __fadd_rn(__fmul_rn(w.nested_map[code], nested), w.offset[m]);
}

// View element (r, c) of matrix m as fp32 (weight_element's semantics).
__device__ float element_of(const DeviceWeight& w, int64_t m, int64_t r, int64_t c) {
  const int64_t i = (w.first_row + r) * w.cols + c;
  switch (w.format) {
    case WFormat::kF32: return static_cast<const float*>(w.data)[m * numel_of(w) + i];
    case WFormat::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(w.data)[m * numel_of(w) + i]);
    case WFormat::kF16: return __half2float(static_cast<const __half*>(w.data)[m * numel_of(w) + i]);
    case WFormat::kInt8: {
      const float code = static_cast<float>(w.codes[m * numel_of(w) + i]);
      return __fmul_rn(__fmul_rn(code, w.scb[m * w.stored_rows + w.first_row + r]), kInv127f);
    }
    case WFormat::kNF4: {
      const uint8_t byte = w.packed[m * w.packed_stride + i / 2];
      const uint8_t code = (i & 1) ? (byte & 0x0f) : (byte >> 4);
      return __fmul_rn(w.quant_map[code], nf4_scale_of(w, m, i / kNf4Blk));
    }
  }
  return 0.0f;
}

__host__ __device__ constexpr int wraw_bytes(WFormat f) {
  return f == WFormat::kInt8 ? kBN * 64 : (f == WFormat::kNF4 ? kBN * 32 : kBN * kRowBytes);
}

__host__ __device__ constexpr int round_up_int(int v, int m) { return (v + m - 1) / m * m; }

// Dynamic shared memory of the fast kernel (byte offsets, 16-byte aligned).
struct FastLayout {
  int stage = 0;  // bytes per stage: raw W, then raw x
  int xb = 0, wb = 0, qmap = 0, nmap = 0, span_codes = 0, span_nested = 0;
  int span_cap = 0, nested_cap = 0;  // per tile half: bytes / floats
  int total = 0;
};

__host__ __device__ inline FastLayout fast_layout(WFormat f, int64_t K) {
  FastLayout L;
  L.stage = wraw_bytes(f) + kXRawBytes;
  L.xb = kStages * L.stage;
  L.wb = L.xb + kXbBytes;
  int end = L.wb + ((f == WFormat::kInt8 || f == WFormat::kNF4) ? kWbBytes : 0);
  if (f == WFormat::kNF4) {
    const int k = static_cast<int>(K);
    L.qmap = end;
    L.nmap = L.qmap + 16 * 4;
    L.span_codes = L.nmap + 256 * 4;
    L.span_cap = round_up_int(k + 2, 16);  // blocks touched by 64 rows: <= K + 1
    L.span_nested = L.span_codes + 2 * L.span_cap;
    L.nested_cap = round_up_int((k + 1) / 256 + 3, 4);
    end = L.span_nested + 2 * L.nested_cap * 4;
  }
  L.total = end;
  return L;
}

// ---- PTX wrappers ----------------------------------------------------------------------

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// L2 policy of the weight stream: evict-first when no other CTA will read the
// tile again (a group of one m-tile), else normal.
__device__ __forceinline__ uint64_t weight_policy(bool read_once) {
  uint64_t p;
  if (read_once) {
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
  } else {
    asm volatile("createpolicy.fractional.L2::evict_normal.b64 %0, 1.0;\n" : "=l"(p));
  }
  return p;
}

// 16 bytes global -> shared; valid == false writes 16 zero bytes (reads nothing).
__device__ __forceinline__ void cp_async16_stream(uint32_t dst, const void* src, bool valid, uint64_t policy) {
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(dst), "l"(src), "r"(n),
               "l"(policy)
               : "memory");
}
__device__ __forceinline__ void cp_async8_stream(uint32_t dst, const void* src, bool valid, uint64_t policy) {
  const int n = valid ? 8 : 0;
  asm volatile("cp.async.ca.shared.global.L2::cache_hint [%0], [%1], 8, %2, %3;\n" ::"r"(dst), "l"(src), "r"(n),
               "l"(policy)
               : "memory");
}
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

template <bool kF16>
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (kF16) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

template <bool kF16>
__device__ __forceinline__ uint32_t pack2(float a, float b) {  // a at the lower address
  if constexpr (kF16) {
    const __half2 v = __floats2half2_rn(a, b);
    return *reinterpret_cast<const uint32_t*>(&v);
  } else {
    const __nv_bfloat162 v = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<const uint32_t*>(&v);
  }
}

// Byte offset of 16-byte chunk c (0..7) of row r in a swizzled 16-bit tile.
__device__ __forceinline__ int swz(int r, int c) { return r * kRowBytes + ((c ^ (r & 7)) << 4); }

// ---- tile list -------------------------------------------------------------------------

struct Tile {
  int g = 0;
  int ntile = 0;
  int m_count = 0;
  int mtiles = 0;  // m-tiles of the group
  int64_t m_start = 0;
};

// CTA blockIdx.x's tile. Tiles are numbered group by group; inside a group,
// m-tile major, n-tile minor. False (for the whole CTA) past the last tile.
__device__ bool find_tile(const int32_t* __restrict__ offsets, int groups, int ntiles, Tile* out) {
  __shared__ int s_found, s_g, s_ntile, s_count, s_mtiles;
  __shared__ long long s_start;
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x;
    const long long L = blockIdx.x;
    long long running = 0;
    bool found = false;
    for (int base = 0; base < groups; base += 32) {
      const int g = base + lane;
      int start = 0, cnt = 0;
      if (g < groups) {
        start = offsets[g];
        cnt = offsets[g + 1] - start;
        if (cnt < 0) cnt = 0;
      }
      const int mtiles = (cnt + kBM - 1) / kBM;
      const long long T = static_cast<long long>(mtiles) * ntiles;
      long long incl = T;
#pragma unroll
      for (int d = 1; d < 32; d <<= 1) {
        const long long o = __shfl_up_sync(0xffffffffu, incl, d);
        if (lane >= d) incl += o;
      }
      const long long total = __shfl_sync(0xffffffffu, incl, 31);
      if (L < running + total) {  // warp-uniform
        const long long first = running + incl - T;
        if (T > 0 && L >= first && L < running + incl) {  // exactly one lane
          const long long local = L - first;
          const int mt = static_cast<int>(local / ntiles);
          s_g = g;
          s_ntile = static_cast<int>(local % ntiles);
          s_mtiles = mtiles;
          s_start = static_cast<long long>(start) + static_cast<long long>(mt) * kBM;
          s_count = min(kBM, cnt - mt * kBM);
        }
        found = true;
        break;
      }
      running += total;
    }
    if (lane == 0) s_found = found ? 1 : 0;
  }
  __syncthreads();
  if (!s_found) return false;
  out->g = s_g;
  out->ntile = s_ntile;
  out->m_count = s_count;
  out->mtiles = s_mtiles;
  out->m_start = s_start;
  return true;
}

// ---- shared MMA and epilogue -----------------------------------------------------------

// First W tile row of the warp's m16 tile t: plain, warp w owns rows
// [32w, 32w + 32); swiglu, gate rows [16w, 16w + 16) and the matching up rows
// 64 further, so gate and up of one output sit in the same registers.
template <bool kSwiglu>
__device__ __forceinline__ int warp_row(int warp, int t) {
  return kSwiglu ? t * 64 + warp * 16 : warp * 32 + t * 16;
}

// acc[t][j] += W rows of m16 tile t x pairs [8j, 8j + 8), over one k-step of 64.
template <bool kSwiglu, bool kF16>
__device__ __forceinline__ void mma_kstep(uint32_t wtile, uint32_t xtile, int warp, int lane, int n16,
                                          float (&acc)[2][8][4]) {
#pragma unroll
  for (int ks = 0; ks < kBK / 16; ++ks) {
    uint32_t a[2][4];
#pragma unroll
    for (int t = 0; t < 2; ++t) {
      const int row = warp_row<kSwiglu>(warp, t) + (lane & 7) + ((lane >> 3) & 1) * 8;
      const int chunk = ks * 2 + (lane >> 4);
      ldsm_x4(a[t], wtile + swz(row, chunk));
    }
#pragma unroll
    for (int jj = 0; jj < kBM / 16; ++jj) {
      if (jj < n16) {  // CTA-uniform: skip pair blocks past the group's end
        const int row = jj * 16 + (lane & 7) + ((lane >> 4) << 3);
        const int chunk = ks * 2 + ((lane >> 3) & 1);
        uint32_t b[4];
        ldsm_x4(b, xtile + swz(row, chunk));
#pragma unroll
        for (int t = 0; t < 2; ++t) {
          mma16816<kF16>(acc[t][2 * jj], a[t], b[0], b[1]);
          mma16816<kF16>(acc[t][2 * jj + 1], a[t], b[2], b[3]);
        }
      }
    }
  }
}

__device__ __forceinline__ float silu(float z) { return z / (1.0f + expf(-z)); }

// Accumulator (t, j, i): W tile row warp_row(t) + g + 8 (i >> 1), pair 8j + 2q + (i & 1)
// (g = lane / 4, q = lane % 4), the m16n8 C fragment layout.
template <bool kSwiglu>
__device__ __forceinline__ void store_tile(const float (&acc)[2][8][4], const Tile& tile, int64_t out_cols,
                                           float* __restrict__ y, int64_t ldy, int warp, int lane) {
  const int g = lane >> 2, q = lane & 3;
#pragma unroll
  for (int j = 0; j < kBM / 8; ++j) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int pair = j * 8 + 2 * q + (i & 1);
      if (pair >= tile.m_count) continue;
      float* yrow = y + (tile.m_start + pair) * ldy;
      if constexpr (kSwiglu) {
        const int64_t col = static_cast<int64_t>(tile.ntile) * (kBN / 2) + warp * 16 + g + 8 * (i >> 1);
        if (col < out_cols) yrow[col] = silu(acc[0][j][i]) * acc[1][j][i];
      } else {
#pragma unroll
        for (int t = 0; t < 2; ++t) {
          const int64_t col = static_cast<int64_t>(tile.ntile) * kBN + warp_row<false>(warp, t) + g + 8 * (i >> 1);
          if (col < out_cols) yrow[col] = acc[t][j][i];
        }
      }
    }
  }
}

// View row of W tile row r, and whether it exists.
template <bool kSwiglu>
__device__ __forceinline__ int64_t tile_view_row(const DeviceWeight& w, int ntile, int r, bool* valid) {
  if constexpr (kSwiglu) {
    const int64_t I = w.rows / 2;
    const int64_t j = static_cast<int64_t>(ntile) * (kBN / 2) + (r & 63);
    *valid = j < I;
    return r < 64 ? j : I + j;
  } else {
    const int64_t v = static_cast<int64_t>(ntile) * kBN + r;
    *valid = v < w.rows;
    return v;
  }
}

// ---- fast kernel -----------------------------------------------------------------------

// int8 byte b of `u` (codes with the sign bit flipped) as an exact float:
// 0x4B0000uu is 2^23 + uu; no int-to-float conversion unit needed.
__device__ __forceinline__ float int8_code(uint32_t u, int b) {
  return __fsub_rn(__int_as_float(static_cast<int>(__byte_perm(u, 0x4B00u, 0x5440u | b))), 8388736.0f);
}

template <WFormat F, bool kSwiglu>
__global__ void __launch_bounds__(kThreads, 2)
    grouped_fast_kernel(const DeviceWeight w, const float* __restrict__ x, int64_t ldx,
                        const int32_t* __restrict__ rows, const int32_t* __restrict__ offsets, int groups,
                        int ntiles, int per_group_matrix, int64_t out_cols, float* __restrict__ y, int64_t ldy) {
  constexpr bool kF16 = F == WFormat::kF16;
  constexpr bool kDecode = F == WFormat::kInt8 || F == WFormat::kNF4;
  constexpr int kWRaw = wraw_bytes(F);
  // Raw W chunks: per tile row kCh chunks of kChBytes, holding kChElems elements.
  constexpr int kCh = F == WFormat::kInt8 ? 4 : (F == WFormat::kNF4 ? 4 : 8);
  constexpr int kChBytes = F == WFormat::kNF4 ? 8 : 16;
  constexpr int kChElems = F == WFormat::kInt8 ? 16 : (F == WFormat::kNF4 ? 16 : 8);
  constexpr int kRowRaw = kCh * kChBytes;           // raw bytes of one tile row per k-step
  constexpr int kWPer = kBN * kCh / kThreads;       // raw W chunks per thread per stage
  constexpr int kXPer = kBM * 16 / kThreads;        // fp32 x chunks per thread per stage (8)
  static_assert(kWPer * kThreads == kBN * kCh && kXPer * kThreads == kBM * 16, "tile split");

  extern __shared__ __align__(128) unsigned char smem[];
  Tile tile;
  if (!find_tile(offsets, groups, ntiles, &tile)) return;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t K = w.cols;
  const int KT = static_cast<int>((K + kBK - 1) / kBK);
  const int64_t mat = per_group_matrix ? tile.g : 0;
  const FastLayout L = fast_layout(F, K);
  unsigned char* xb = smem + L.xb;
  unsigned char* wb = smem + L.wb;
  const int m_count = tile.m_count;
  const int n16 = (m_count + 15) >> 4;
  const uint64_t policy = weight_policy(tile.mtiles == 1);

  // Raw bytes of one stored row and of a whole matrix.
  constexpr int kElemNum = F == WFormat::kNF4 ? 1 : (F == WFormat::kInt8 ? 1 : 2);  // bytes per element
  constexpr int kElemDen = F == WFormat::kNF4 ? 2 : 1;                                // (nf4: 1/2)
  const unsigned char* wbase;
  if constexpr (F == WFormat::kInt8) {
    wbase = reinterpret_cast<const unsigned char*>(w.codes) + mat * numel_of(w);
  } else if constexpr (F == WFormat::kNF4) {
    wbase = w.packed + mat * w.packed_stride;
  } else {
    wbase = static_cast<const unsigned char*>(w.data) + mat * numel_of(w) * 2;
  }
  const int64_t row_bytes = K * kElemNum / kElemDen;

  // Per-thread raw W sources: chunk column cw, rows rw0 + i * (kBN / kWPer).
  const int cw = tid % kCh;
  const int rw0 = tid / kCh;
  const unsigned char* wsrc[kWPer];
  bool wok[kWPer];
#pragma unroll
  for (int i = 0; i < kWPer; ++i) {
    bool v;
    const int64_t vr = tile_view_row<kSwiglu>(w, tile.ntile, rw0 + i * (kThreads / kCh), &v);
    wok[i] = v;
    wsrc[i] = v ? wbase + (w.first_row + vr) * row_bytes + cw * kChBytes : wbase;
  }
  // Per-thread x sources: 16-byte chunk cx of pair rows rx0 + 8 i.
  const int cx = tid & 15;
  const int rx0 = tid >> 4;
  const float* xsrc[kXPer];
#pragma unroll
  for (int i = 0; i < kXPer; ++i) {
    const int pr = rx0 + 8 * i;
    int xr = 0;
    if (pr < m_count) xr = rows ? rows[tile.m_start + pr] : static_cast<int>(tile.m_start + pr);
    xsrc[i] = x + static_cast<int64_t>(xr) * ldx + cx * 4;
  }

  auto issue = [&](int kt, int slot) {
    unsigned char* st = smem + slot * L.stage;
    const uint32_t wdst = smem_u32(st);
    const uint32_t xdst = smem_u32(st + kWRaw);
    const int64_t kw = static_cast<int64_t>(kt) * kBK + cw * kChElems;
#pragma unroll
    for (int i = 0; i < kWPer; ++i) {
      const int r = rw0 + i * (kThreads / kCh);
      const bool ok = wok[i] && kw < K;
      const unsigned char* src = ok ? wsrc[i] + static_cast<int64_t>(kt) * (kBK * kElemNum / kElemDen) : wbase;
      if constexpr (F == WFormat::kNF4) {
        // 8-byte piece cw of a 32-byte row: 16-byte unit (cw >> 1) ^ ((r >> 2) & 1).
        const int off = r * kRowRaw + ((((cw >> 1) ^ ((r >> 2) & 1))) << 4) + (cw & 1) * 8;
        cp_async8_stream(wdst + off, src, ok, policy);
      } else if constexpr (F == WFormat::kInt8) {
        const int off = r * kRowRaw + ((cw ^ ((r >> 1) & 3)) << 4);
        cp_async16_stream(wdst + off, src, ok, policy);
      } else {
        cp_async16_stream(wdst + swz(r, cw), src, ok, policy);
      }
    }
    const bool xk = static_cast<int64_t>(kt) * kBK + cx * 4 < K;
#pragma unroll
    for (int i = 0; i < kXPer; ++i) {
      const int pr = rx0 + 8 * i;
      if (pr < m_count) cp_async16(xdst + pr * kXRawRowBytes + cx * 16, xk ? xsrc[i] + kt * kBK : x, xk);
    }
  };

  // Prologue: zero the x tile (pairs past the group stay zero), format tables.
  for (int i = tid; i < kXbBytes / 16; i += kThreads) reinterpret_cast<uint4*>(xb)[i] = make_uint4(0, 0, 0, 0);

  // This thread's decode row (int8 / nf4): tile row tid.
  bool dvalid = false;
  const int64_t dview = tile_view_row<kSwiglu>(w, tile.ntile, tid, &dvalid);
  float scb = 0.0f;
  if constexpr (F == WFormat::kInt8) {
    if (dvalid) scb = w.scb[mat * w.stored_rows + w.first_row + dview];
  }
  float* qmap_s = reinterpret_cast<float*>(smem + L.qmap);
  float* nmap_s = reinterpret_cast<float*>(smem + L.nmap);
  unsigned char* span_codes = smem + L.span_codes;
  float* span_nested = reinterpret_cast<float*>(smem + L.span_nested);
  // The decode row's half (tid >> 6): first block and first nested block of its span.
  int64_t my_b0 = 0, my_nb0 = 0;
  float nf4_offset = 0.0f;
  if constexpr (F == WFormat::kNF4) {
    // Absmax codes of the blocks touched by each 64-row half of the tile (one
    // contiguous run each), their nested absmax, and the two maps.
    const int64_t numel = numel_of(w);
    const int64_t nblocks = (numel + kNf4Blk - 1) / kNf4Blk;
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      bool v;
      const int64_t vb = tile_view_row<kSwiglu>(w, tile.ntile, hh * 64, &v);
      const int64_t lo = (w.first_row + vb) * K;
      const int64_t row_end = w.first_row + vb + 64 < w.stored_rows ? w.first_row + vb + 64 : w.stored_rows;
      const int64_t hi = row_end * K;
      const int64_t b0 = lo / kNf4Blk;
      const int64_t b1_raw = (hi + kNf4Blk - 1) / kNf4Blk;
      const int64_t b1 = hi > lo ? (b1_raw < nblocks ? b1_raw : nblocks) : b0;
      const int64_t nb0 = b0 / kNf4NestedBlk;
      const int64_t nb1 = b1 > b0 ? (b1 - 1) / kNf4NestedBlk + 1 : nb0;
      if (hh == (tid >> 6)) {
        my_b0 = b0;
        my_nb0 = nb0;
      }
      const uint8_t* codes = w.absmax_codes + mat * w.absmax_stride;
      for (int64_t i = tid; i < b1 - b0; i += kThreads) span_codes[hh * L.span_cap + i] = codes[b0 + i];
      const float* nested = w.nested_absmax + mat * w.nested_stride;
      for (int64_t i = tid; i < nb1 - nb0; i += kThreads) span_nested[hh * L.nested_cap + i] = nested[nb0 + i];
    }
    if (tid < 16) qmap_s[tid] = w.quant_map[tid];
    for (int i = tid; i < 256; i += kThreads) nmap_s[i] = w.nested_map[i];
    nf4_offset = w.offset[mat];
  }
  const int64_t dflat = (w.first_row + dview) * K;  // flat index of the decode row's element 0

  float acc[2][8][4];
#pragma unroll
  for (int t = 0; t < 2; ++t)
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[t][j][i] = 0.0f;

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < KT) issue(s, s);
    cp_async_commit();
  }

  int slot = 0;
  for (int kt = 0; kt < KT; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // stage kt visible to all; everyone is done with step kt - 1
    {
      const int nk = kt + kStages - 1;
      int ns = slot + kStages - 1;
      if (ns >= kStages) ns -= kStages;
      if (nk < KT) issue(nk, ns);
      cp_async_commit();
    }
    unsigned char* st = smem + slot * L.stage;

    // x: fp32 -> 16-bit tile (rows of the group only).
    {
      const unsigned char* xr = st + kWRaw;
#pragma unroll
      for (int i = 0; i < kXPer; ++i) {
        const int pr = rx0 + 8 * i;
        if (pr < m_count) {
          const float4 v = *reinterpret_cast<const float4*>(xr + pr * kXRawRowBytes + cx * 16);
          uint2 o;
          o.x = pack2<kF16>(v.x, v.y);
          o.y = pack2<kF16>(v.z, v.w);
          *reinterpret_cast<uint2*>(xb + swz(pr, cx >> 1) + (cx & 1) * 8) = o;
        }
      }
    }

    // W: raw int8 / nf4 -> bf16 tile, one thread per tile row.
    if constexpr (F == WFormat::kInt8) {
      const unsigned char* raw = st + tid * kRowRaw;
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        uint4 o0 = make_uint4(0, 0, 0, 0), o1 = make_uint4(0, 0, 0, 0);
        if (dvalid && static_cast<int64_t>(kt) * kBK + c * 16 < K) {
          const uint4 q = *reinterpret_cast<const uint4*>(raw + ((c ^ ((tid >> 1) & 3)) << 4));
          const uint32_t wd[4] = {q.x ^ 0x80808080u, q.y ^ 0x80808080u, q.z ^ 0x80808080u, q.w ^ 0x80808080u};
          uint32_t p[8];
#pragma unroll
          for (int e = 0; e < 8; ++e) {
            const float v0 = __fmul_rn(__fmul_rn(int8_code(wd[e >> 1], (2 * e) & 3), scb), kInv127f);
            const float v1 = __fmul_rn(__fmul_rn(int8_code(wd[e >> 1], (2 * e + 1) & 3), scb), kInv127f);
            p[e] = pack2<false>(v0, v1);
          }
          o0 = make_uint4(p[0], p[1], p[2], p[3]);
          o1 = make_uint4(p[4], p[5], p[6], p[7]);
        }
        *reinterpret_cast<uint4*>(wb + swz(tid, 2 * c)) = o0;
        *reinterpret_cast<uint4*>(wb + swz(tid, 2 * c + 1)) = o1;
      }
    } else if constexpr (F == WFormat::kNF4) {
      const unsigned char* raw = st + tid * kRowRaw;
      const int hh = tid >> 6;
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const uint4 q = *reinterpret_cast<const uint4*>(raw + ((u ^ ((tid >> 2) & 1)) << 4));
#pragma unroll
        for (int hp = 0; hp < 2; ++hp) {
          const int piece = 2 * u + hp;  // 16 elements
          const int64_t kk = static_cast<int64_t>(kt) * kBK + piece * 16;
          uint4 o0 = make_uint4(0, 0, 0, 0), o1 = make_uint4(0, 0, 0, 0);
          if (dvalid && kk < K) {
            const int64_t blk = (dflat + kk) / kNf4Blk;  // one block: pieces start at multiples of 16
            const int code = span_codes[hh * L.span_cap + static_cast<int>(blk - my_b0)];
            const float nest = span_nested[hh * L.nested_cap + static_cast<int>(blk / kNf4NestedBlk - my_nb0)];
            const float scale = __fadd_rn(__fmul_rn(nmap_s[code], nest), nf4_offset);
            const uint32_t w0 = hp ? q.z : q.x, w1 = hp ? q.w : q.y;
            uint32_t p[8];
#pragma unroll
            for (int e = 0; e < 8; ++e) {  // byte e: element 2e in the high nibble, 2e + 1 in the low
              const uint32_t byte = ((e < 4 ? w0 : w1) >> (8 * (e & 3))) & 0xffu;
              const float v0 = __fmul_rn(qmap_s[byte >> 4], scale);
              const float v1 = __fmul_rn(qmap_s[byte & 15u], scale);
              p[e] = pack2<false>(v0, v1);
            }
            o0 = make_uint4(p[0], p[1], p[2], p[3]);
            o1 = make_uint4(p[4], p[5], p[6], p[7]);
          }
          *reinterpret_cast<uint4*>(wb + swz(tid, 2 * piece)) = o0;
          *reinterpret_cast<uint4*>(wb + swz(tid, 2 * piece + 1)) = o1;
        }
      }
    }
    __syncthreads();  // x tile (and decoded W tile) complete

    const uint32_t wt = kDecode ? smem_u32(wb) : smem_u32(st);
    mma_kstep<kSwiglu, kF16>(wt, smem_u32(xb), warp, lane, n16, acc);
    if (++slot == kStages) slot = 0;
  }
  cp_async_wait<0>();  // no copy may still target shared memory when the CTA exits
  store_tile<kSwiglu>(acc, tile, out_cols, y, ldy, warp, lane);
}

// ---- generic kernel --------------------------------------------------------------------

template <bool kSwiglu, bool kF16>
__global__ void __launch_bounds__(kThreads)
    grouped_generic_kernel(const DeviceWeight w, const float* __restrict__ x, int64_t ldx,
                           const int32_t* __restrict__ rows, const int32_t* __restrict__ offsets, int groups,
                           int ntiles, int per_group_matrix, int64_t out_cols, float* __restrict__ y,
                           int64_t ldy) {
  __shared__ __align__(128) unsigned char wb[kWbBytes];
  __shared__ __align__(128) unsigned char xb[kXbBytes];
  __shared__ int rows_s[kBM];
  Tile tile;
  if (!find_tile(offsets, groups, ntiles, &tile)) return;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t K = w.cols;
  const int64_t mat = per_group_matrix ? tile.g : 0;
  const int m_count = tile.m_count;
  const int n16 = (m_count + 15) >> 4;
  if (tid < kBM) {
    int xr = 0;
    if (tid < m_count) xr = rows ? rows[tile.m_start + tid] : static_cast<int>(tile.m_start + tid);
    rows_s[tid] = xr;
  }
  float acc[2][8][4];
#pragma unroll
  for (int t = 0; t < 2; ++t)
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[t][j][i] = 0.0f;

  for (int64_t k0 = 0; k0 < K; k0 += kBK) {
    __syncthreads();  // previous step's MMA done (and rows_s written)
    // W: 8-element chunks, chunk c of row r for item tid + 128 i.
    for (int item = tid; item < kBN * 8; item += kThreads) {
      const int r = item >> 3, c = item & 7;
      bool v;
      const int64_t vr = tile_view_row<kSwiglu>(w, tile.ntile, r, &v);
      uint32_t p[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t ka = k0 + c * 8 + 2 * e, kb = ka + 1;
        const float a = (v && ka < K) ? element_of(w, mat, vr, ka) : 0.0f;
        const float b = (v && kb < K) ? element_of(w, mat, vr, kb) : 0.0f;
        p[e] = pack2<kF16>(a, b);
      }
      *reinterpret_cast<uint4*>(wb + swz(r, c)) = make_uint4(p[0], p[1], p[2], p[3]);
    }
    for (int item = tid; item < kBM * 8; item += kThreads) {
      const int r = item >> 3, c = item & 7;
      const float* xr = x + static_cast<int64_t>(rows_s[r]) * ldx;
      uint32_t p[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t ka = k0 + c * 8 + 2 * e, kb = ka + 1;
        const float a = (r < m_count && ka < K) ? xr[ka] : 0.0f;
        const float b = (r < m_count && kb < K) ? xr[kb] : 0.0f;
        p[e] = pack2<kF16>(a, b);
      }
      *reinterpret_cast<uint4*>(xb + swz(r, c)) = make_uint4(p[0], p[1], p[2], p[3]);
    }
    __syncthreads();
    mma_kstep<kSwiglu, kF16>(smem_u32(wb), smem_u32(xb), warp, lane, n16, acc);
  }
  store_tile<kSwiglu>(acc, tile, out_cols, y, ldy, warp, lane);
}

// ---- host ------------------------------------------------------------------------------

struct Args {
  DeviceWeight w;
  const float* x;
  int64_t ldx;
  const int32_t* rows;
  const int32_t* offsets;
  int groups;
  int ntiles;
  int per_group_matrix;
  int64_t out_cols;
  float* y;
  int64_t ldy;
};

template <WFormat F, bool kSwiglu>
cudaError_t run_fast(const Args& a, unsigned grid, cudaStream_t stream) {
  const int smem = fast_layout(F, a.w.cols).total;
  auto kernel = grouped_fast_kernel<F, kSwiglu>;
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (e != cudaSuccess) return e;
  kernel<<<grid, kThreads, smem, stream>>>(a.w, a.x, a.ldx, a.rows, a.offsets, a.groups, a.ntiles,
                                           a.per_group_matrix, a.out_cols, a.y, a.ldy);
  return launch_status();
}

template <bool kSwiglu>
cudaError_t run_fast_format(const Args& a, unsigned grid, cudaStream_t stream) {
  switch (a.w.format) {
    case WFormat::kBF16: return run_fast<WFormat::kBF16, kSwiglu>(a, grid, stream);
    case WFormat::kF16: return run_fast<WFormat::kF16, kSwiglu>(a, grid, stream);
    case WFormat::kInt8: return run_fast<WFormat::kInt8, kSwiglu>(a, grid, stream);
    case WFormat::kNF4: return run_fast<WFormat::kNF4, kSwiglu>(a, grid, stream);
    default: return cudaErrorInvalidValue;
  }
}

template <bool kSwiglu, bool kF16>
cudaError_t run_generic(const Args& a, unsigned grid, cudaStream_t stream) {
  grouped_generic_kernel<kSwiglu, kF16><<<grid, kThreads, 0, stream>>>(
      a.w, a.x, a.ldx, a.rows, a.offsets, a.groups, a.ntiles, a.per_group_matrix, a.out_cols, a.y, a.ldy);
  return launch_status();
}

bool aligned(const void* p, uintptr_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

bool fast_path_ok(const DeviceWeight& w, const float* x, int64_t ldx) {
  const int64_t K = w.cols;
  if (ldx % 4 != 0 || !aligned(x, 16)) return false;
  switch (w.format) {
    case WFormat::kBF16:
    case WFormat::kF16: return K % 8 == 0 && aligned(w.data, 16);
    case WFormat::kInt8: return K % 16 == 0 && aligned(w.codes, 16);
    case WFormat::kNF4:
      return K % 16 == 0 && K <= kNf4MaxK && aligned(w.packed, 8) && w.packed_stride % 8 == 0;
    default: return false;
  }
}

bool weight_ok(const DeviceWeight& w) {
  switch (w.format) {
    case WFormat::kF32:
    case WFormat::kBF16:
    case WFormat::kF16: return w.data != nullptr;
    case WFormat::kInt8: return w.codes && w.scb;
    case WFormat::kNF4: return w.packed && w.absmax_codes && w.nested_absmax && w.offset && w.quant_map && w.nested_map;
  }
  return false;
}

}  // namespace

cudaError_t launch_grouped_gemm(const DeviceWeight& w, const float* x, int64_t ldx, const int32_t* rows,
                                const int32_t* offsets, int64_t groups, int64_t total_pairs,
                                int64_t max_rows_per_group, bool swiglu, float* y, int64_t ldy,
                                cudaStream_t stream) {
  const int64_t N = w.rows, K = w.cols;
  if (groups < 1 || groups > INT_MAX || total_pairs < 0 || total_pairs > INT_MAX || N < 1 || K < 1 ||
      !offsets || !weight_ok(w) || w.first_row < 0 || w.first_row + N > w.stored_rows ||
      !(w.stack == groups || w.stack == 1) || (swiglu && N % 2 != 0))
    return cudaErrorInvalidValue;
  if (total_pairs == 0) return launch_status();
  const int64_t out_cols = swiglu ? N / 2 : N;
  if (!x || !y || ldx < K || ldy < out_cols) return cudaErrorInvalidValue;

  const int64_t ntiles = swiglu ? (out_cols + kBN / 2 - 1) / (kBN / 2) : (N + kBN - 1) / kBN;
  const int64_t max_rows =
      (max_rows_per_group <= 0 || max_rows_per_group > total_pairs) ? total_pairs : max_rows_per_group;
  // Bound on the m-tiles of all groups: sum ceil(M_g / 64) <= min(groups * ceil(max / 64),
  // (total + groups * 63) / 64).
  const int64_t mtiles = std::min(groups * ((max_rows + kBM - 1) / kBM), (total_pairs + groups * (kBM - 1)) / kBM);
  const int64_t grid = ntiles * mtiles;
  if (grid < 1) return launch_status();
  if (grid > INT_MAX) return cudaErrorInvalidValue;

  Args a{w, x, ldx, rows, offsets, static_cast<int>(groups), static_cast<int>(ntiles),
         (w.stack == groups && groups > 1) ? 1 : 0, out_cols, y, ldy};
  const auto g = static_cast<unsigned>(grid);
  if (fast_path_ok(w, x, ldx)) return swiglu ? run_fast_format<true>(a, g, stream) : run_fast_format<false>(a, g, stream);
  const bool f16 = w.format == WFormat::kF16;
  if (swiglu) return f16 ? run_generic<true, true>(a, g, stream) : run_generic<true, false>(a, g, stream);
  return f16 ? run_generic<false, true>(a, g, stream) : run_generic<false, false>(a, g, stream);
}

}  // namespace ql::gpu
