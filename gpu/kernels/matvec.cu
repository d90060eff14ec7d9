// Decode-time matvec (matvec.cuh). Layout of the work (docs/gpu-backend.md,
// "Decode matvec"):
//   * a block of 8 warps owns a tile of rows of one target; its warps form
//     (8 / S) row groups of S warps, each warp of a group summing R rows over
//     one 1/S slice of the columns (S > 1 gives short matrices more threads);
//     the S partial sums meet in shared memory in a fixed order, so the
//     result is deterministic (no atomics);
//   * x (fp32, or its int8 codes for LLM.int8) is staged in shared memory per
//     column tile, permuted so that a lane's 16-byte reads are conflict free;
//   * each lane streams 16-byte chunks of its R rows (a warp reads consecutive
//     chunks of a row), U chunks per row in flight, and decodes them in
//     registers: bf16/f16 by bit shifts, INT8 by __dp4a against x's codes,
//     NF4 by a 16-entry table in shared memory and one block scale per chunk
//     (a chunk of 32 nibbles never spans two blocks of 64).
// Shapes without the fast path's alignment (and F32 weights) take a simple
// warp-per-row path reading weight_element()'s values (element_of).
#include "gpu/kernels/matvec.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "gpu/kernels/launch.cuh"
#include "gpu/kernels/weight_decode.cuh"

namespace ql::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kTableBytes = (16 + 256) * 4;  // NF4 quant_map + nested_map, a multiple of 16
constexpr int kXTileBudget = 40 * 1024;      // x tile bytes: keeps the block under 48 KB
constexpr int kRedSlots = kWarps * 64;       // partial sums: [warp][R * NR] <= 8 x 64
// |int dot| <= cols * 127^2 < 2^31 up to here, so int32 sums are exact.
constexpr int64_t kInt8FastMaxCols = 131072;
constexpr float kInv127 = 1.0f / 127.0f;         // as core/quant/int8_rowwise.h
constexpr float kInv127Squared = 1.0f / 16129.0f;  // as core/quant/int8_matmul.cpp

enum Path : int { kGeneric = 0, kBF16 = 1, kF16 = 2, kInt8 = 3, kNF4 = 4, kMixed = 5 };

// Elements of one 16-byte weight chunk.
__host__ __device__ constexpr int chunk_elems(int path) { return path == kNF4 ? 32 : path == kInt8 ? 16 : 8; }
// Rows per warp: each x value read from shared memory serves R rows.
__host__ __device__ constexpr int rows_per_warp(int path, int nr) {
  return path == kGeneric ? 1 : path == kNF4 ? 4 : (nr >= 4 ? 4 : 2);
}
// Chunk positions per row loaded before use (U * R 16-byte loads in flight).
__host__ __device__ constexpr int unroll_of(int path, int nr) { return rows_per_warp(path, nr) >= 4 ? 2 : 4; }

struct TargetParams {
  DeviceWeight w;
  int64_t matrix;
  const float* bias;
  float* y;
  int64_t ldy;
  int64_t block_begin;  // first block of this target in the grid
  int path;
  int S;   // warps per row group (column slices)
  int kt;  // columns per x tile (fast paths; a multiple of 64)
};

struct MatvecParams {
  TargetParams t[kMatvecMaxTargets];
  Int8Activations xq;
  const float* x;
  int64_t ldx;
  int64_t cols;
  int n;
  int num_targets;
  int x_vec;  // x rows may be read as float4
  int accumulate;
};

// weight_element()'s arithmetic (weight_decode.cuh), written against the plain
// fields: that header's int8_element/weight_element call DeviceWeight members
// that are not __device__, so device code cannot use them yet.
__device__ float element_of(const DeviceWeight& w, int64_t m, int64_t r, int64_t c) {
  const int64_t numel = w.stored_rows * w.cols;
  const int64_t i = (w.first_row + r) * w.cols + c;
  switch (w.format) {
    case WFormat::kF32: return static_cast<const float*>(w.data)[m * numel + i];
    case WFormat::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(w.data)[m * numel + i]);
    case WFormat::kF16: return __half2float(static_cast<const __half*>(w.data)[m * numel + i]);
    case WFormat::kInt8: {
      const float code = static_cast<float>(w.codes[m * numel + i]);
      return __fmul_rn(__fmul_rn(code, w.scb[m * w.stored_rows + w.first_row + r]), kInv127);
    }
    case WFormat::kNF4: return nf4_element(w, m, i);
  }
  return 0.0f;
}

__device__ __forceinline__ uint32_t word_of(const uint4& v, int j) {
  return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}
__device__ __forceinline__ int iword_of(const int4& v, int j) {
  return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

// The LLM.int8 product of row o (of the view) with x row i given the exact
// integer dot, in core/quant/int8_matmul.cpp's order of fp32 operations.
__device__ float int8_product(const MatvecParams& p, const TargetParams& t, int64_t o, int i, long long dot) {
  const DeviceWeight& w = t.w;
  const int64_t srow = w.first_row + o;
  const float scb = w.scb[t.matrix * w.stored_rows + srow];
  float sum = __fmul_rn(__ll2float_rn(dot), __fmul_rn(__fmul_rn(p.xq.absmax[i], scb), kInv127Squared));
  const bool per_row = p.xq.mode == OutlierMode::kPerRow;
  const int count = per_row ? p.xq.outlier_count[i] : p.xq.outlier_count[0];
  const int32_t* list = per_row ? p.xq.outlier_cols + static_cast<int64_t>(i) * p.xq.cols : p.xq.outlier_cols;
  const int8_t* cb = w.codes + (t.matrix * w.stored_rows + srow) * w.cols;
  const float* xi = p.x + static_cast<int64_t>(i) * p.ldx;
  for (int k = 0; k < count; ++k) {
    const int c = list[k];
    const float wv = __fmul_rn(__fmul_rn(static_cast<float>(cb[c]), scb), kInv127);
    sum = __fadd_rn(sum, __fmul_rn(xi[c], wv));
  }
  return sum;
}

template <bool kI8, typename Acc>
__device__ __forceinline__ void store_output(const MatvecParams& p, const TargetParams& t, int64_t o, int i,
                                             Acc total) {
  float prod;
  if constexpr (kI8) {
    prod = int8_product(p, t, o, i, static_cast<long long>(total));
  } else {
    prod = total;
  }
  float* yp = t.y + static_cast<int64_t>(i) * t.ldy + o;
  float out;
  if (p.accumulate) {
    out = *yp;
    if (t.bias) out = __fadd_rn(out, t.bias[o]);
    out = __fadd_rn(out, prod);
  } else if (t.bias) {
    out = __fadd_rn(t.bias[o], prod);
  } else {
    out = prod;
  }
  *yp = out;
}

// Sums each warp's partials over its lanes, then over the S warps of its row
// group (fixed order), and writes the outputs. Every thread of the block calls it.
template <int NR, int R, bool kI8, typename Acc>
__device__ __forceinline__ void finish(const MatvecParams& p, const TargetParams& t, Acc (&acc)[R][NR],
                                       int64_t row0, int s, int S, long long* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n = p.n;
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int i = 0; i < NR; ++i) {
      if (i < n) {
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) acc[r][i] += __shfl_xor_sync(0xffffffffu, acc[r][i], off);
      }
    }
  }
  constexpr int V = R * NR;
  static_assert(V <= 64, "partial sums exceed the reduction buffer");
  if (S > 1) {
    Acc* buf = reinterpret_cast<Acc*>(red);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      if (lane == (k & 31)) buf[warp * V + k] = acc[k / NR][k % NR];
    }
    __syncthreads();
    if (s == 0) {
#pragma unroll
      for (int k = 0; k < V; ++k) {
        if (lane == (k & 31)) {
          const int i = k % NR;
          const int64_t o = row0 + k / NR;
          if (i < n && o < t.w.rows) {
            Acc total = buf[warp * V + k];
            for (int ss = 1; ss < S; ++ss) total += buf[(warp + ss) * V + k];
            store_output<kI8>(p, t, o, i, total);
          }
        }
      }
    }
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) {
      if (lane == (k & 31)) {
        const int i = k % NR;
        const int64_t o = row0 + k / NR;
        if (i < n && o < t.w.rows) store_output<kI8>(p, t, o, i, acc[k / NR][k % NR]);
      }
    }
  }
}

// Fast path of one format (see the top of the file).
template <int NR, int FMT>
__device__ __forceinline__ void run_fast(const MatvecParams& p, const TargetParams& t, int64_t blk,
                                         unsigned char* smem, long long* red) {
  constexpr int E = chunk_elems(FMT);
  constexpr int R = rows_per_warp(FMT, NR);
  constexpr int U = unroll_of(FMT, NR);
  constexpr bool kI8 = FMT == kInt8;
  constexpr bool kNf4 = FMT == kNF4;
  using Acc = typename std::conditional<kI8, int, float>::type;

  const DeviceWeight& w = t.w;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int S = t.S;
  const int g = warp / S, s = warp - (warp / S) * S;
  const int64_t row0 = blk * static_cast<int64_t>((kWarps / S) * R) + static_cast<int64_t>(g) * R;
  const int64_t cols = p.cols;
  const int n = p.n;
  const int64_t m = t.matrix;

  float* table = reinterpret_cast<float*>(smem);  // [0, 16): quant_map, [16, 272): nested_map
  const unsigned char* table_bytes = smem;
  float4* xs = reinterpret_cast<float4*>(smem + kTableBytes);
  int4* xs8 = reinterpret_cast<int4*>(smem + kTableBytes);

  // Rows past the end of the target read its last row; their sums are dropped.
  const uint4* wrow[R];
  int64_t rowblk[R];  // NF4: first block of the row within its matrix
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int64_t rr = row0 + r < w.rows ? row0 + r : w.rows - 1;
    const int64_t srow = w.first_row + rr;
    if constexpr (kNf4) {
      wrow[r] = reinterpret_cast<const uint4*>(w.packed + m * w.packed_stride + srow * (cols / 2));
      rowblk[r] = srow * (cols / 64);
    } else if constexpr (kI8) {
      wrow[r] = reinterpret_cast<const uint4*>(w.codes + (m * w.stored_rows + srow) * cols);
      rowblk[r] = 0;
    } else {
      wrow[r] = reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(w.data) + (m * w.stored_rows + srow) * cols);
      rowblk[r] = 0;
    }
  }
  const uint8_t* acodes = kNf4 ? w.absmax_codes + m * w.absmax_stride : nullptr;
  const float* nested = kNf4 ? w.nested_absmax + m * w.nested_stride : nullptr;
  const float offset = kNf4 ? w.offset[m] : 0.0f;

  Acc acc[R][NR];
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int i = 0; i < NR; ++i) acc[r][i] = Acc(0);
  }

  const int kt = t.kt;
  const int CH = kt / E;  // chunks of a full tile: the stride of the x layout
  const int ntiles = static_cast<int>((cols + kt - 1) / kt);
  uint4 buf[U][R];
  uint32_t acode[U][R];  // NF4: the chunk's absmax code and nested absmax
  float anest[U][R];

  for (int tile = 0; tile < ntiles; ++tile) {
    const int64_t k0 = static_cast<int64_t>(tile) * kt;
    const int tc = static_cast<int>(cols - k0 < kt ? cols - k0 : kt);
    const int ch = tc / E;
    const int cps = (ch + S - 1) / S;
    const int sb = s * cps < ch ? s * cps : ch;
    const int se = sb + cps < ch ? sb + cps : ch;
    const int64_t kc0 = k0 / E;

    auto load = [&](int pb) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int pp = pb + 32 * u;
        if (pp < se) {
#pragma unroll
          for (int r = 0; r < R; ++r) {
            buf[u][r] = __ldcs(wrow[r] + kc0 + pp);
            if constexpr (kNf4) {
              const int64_t b = rowblk[r] + (k0 >> 6) + (pp >> 1);
              acode[u][r] = __ldg(acodes + b);
              anest[u][r] = __ldg(nested + (b >> 8));
            }
          }
        }
      }
    };

    int pb = sb + lane;
    // The first chunks are requested before x is staged, so the weight stream
    // does not wait for the x tile.
    if (tile == 0) load(pb);
    if (tile > 0) __syncthreads();  // every warp is done with the previous tile
    if (kNf4 && tile == 0) {
      for (int k = threadIdx.x; k < 16 + 256; k += kThreads) {
        table[k] = k < 16 ? w.quant_map[k] : w.nested_map[k - 16];
      }
    }
    if constexpr (kI8) {
      // codes [n][ch] as 16-byte chunks; xq rows have stride cols.
      const int total = n * ch;
      for (int idx = threadIdx.x; idx < total; idx += kThreads) {
        const int i = idx / ch, pc = idx - i * ch;
        xs8[i * CH + pc] =
            *reinterpret_cast<const int4*>(p.xq.codes + static_cast<int64_t>(i) * cols + k0 + pc * 16);
      }
    } else {
      // float4 (i, c..c+3) goes to slot (i * E/4 + (c % E) / 4) * CH + c / E.
      const int q4 = tc / 4;
      const int total = n * q4;
      for (int idx = threadIdx.x; idx < total; idx += kThreads) {
        const int i = idx / q4;
        const int c = (idx - i * q4) * 4;
        const float* src = p.x + static_cast<int64_t>(i) * p.ldx + k0 + c;
        const float4 v = p.x_vec ? *reinterpret_cast<const float4*>(src) : make_float4(src[0], src[1], src[2], src[3]);
        xs[(i * (E / 4) + (c % E) / 4) * CH + c / E] = v;
      }
    }
    __syncthreads();

    bool preloaded = tile == 0;
    for (; pb < se; pb += 32 * U) {
      if (!preloaded) load(pb);
      preloaded = false;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int pp = pb + 32 * u;
        if (pp < se) {
          if constexpr (kI8) {
#pragma unroll
            for (int i = 0; i < NR; ++i) {
              if (i < n) {
                const int4 xc = xs8[i * CH + pp];
#pragma unroll
                for (int r = 0; r < R; ++r) {
#pragma unroll
                  for (int j = 0; j < 4; ++j) {
                    acc[r][i] = __dp4a(static_cast<int>(word_of(buf[u][r], j)), iword_of(xc, j), acc[r][i]);
                  }
                }
              }
            }
          } else if constexpr (kNf4) {
            float sc[R];
#pragma unroll
            for (int r = 0; r < R; ++r) sc[r] = __fadd_rn(__fmul_rn(table[16 + acode[u][r]], anest[u][r]), offset);
#pragma unroll
            for (int j = 0; j < 4; ++j) {  // word j: elements 8j .. 8j+7, high nibble first
              float wf[R][8];
#pragma unroll
              for (int r = 0; r < R; ++r) {
                // Byte offsets into the table, 4 at a time (the decode is bound by
                // instruction issue: ~1.5 integer ops per element here).
                const uint32_t v = word_of(buf[u][r], j);
                const uint32_t hi4 = (v >> 2) & 0x3c3c3c3cu;  // byte b: 4 * high nibble (element 2b)
                const uint32_t lo4 = (v << 2) & 0x3c3c3c3cu;  // byte b: 4 * low nibble (element 2b + 1)
#pragma unroll
                for (int b = 0; b < 4; ++b) {
                  const uint32_t oh = __byte_perm(hi4, 0u, 0x4440u | b);
                  const uint32_t ol = __byte_perm(lo4, 0u, 0x4440u | b);
                  wf[r][2 * b] = __fmul_rn(*reinterpret_cast<const float*>(table_bytes + oh), sc[r]);
                  wf[r][2 * b + 1] = __fmul_rn(*reinterpret_cast<const float*>(table_bytes + ol), sc[r]);
                }
              }
#pragma unroll
              for (int i = 0; i < NR; ++i) {
                if (i < n) {
                  const float4 xa = xs[(i * 8 + 2 * j) * CH + pp];
                  const float4 xb = xs[(i * 8 + 2 * j + 1) * CH + pp];
#pragma unroll
                  for (int r = 0; r < R; ++r) {
                    float a = acc[r][i];
                    a = fmaf(xa.x, wf[r][0], a);
                    a = fmaf(xa.y, wf[r][1], a);
                    a = fmaf(xa.z, wf[r][2], a);
                    a = fmaf(xa.w, wf[r][3], a);
                    a = fmaf(xb.x, wf[r][4], a);
                    a = fmaf(xb.y, wf[r][5], a);
                    a = fmaf(xb.z, wf[r][6], a);
                    a = fmaf(xb.w, wf[r][7], a);
                    acc[r][i] = a;
                  }
                }
              }
            }
          } else {
            float wf[R][8];
#pragma unroll
            for (int r = 0; r < R; ++r) {
#pragma unroll
              for (int j = 0; j < 4; ++j) {
                const uint32_t v = word_of(buf[u][r], j);
                if constexpr (FMT == kBF16) {
                  wf[r][2 * j] = __uint_as_float(v << 16);
                  wf[r][2 * j + 1] = __uint_as_float(v & 0xffff0000u);
                } else {
                  wf[r][2 * j] = __half2float(__ushort_as_half(static_cast<unsigned short>(v & 0xffffu)));
                  wf[r][2 * j + 1] = __half2float(__ushort_as_half(static_cast<unsigned short>(v >> 16)));
                }
              }
            }
#pragma unroll
            for (int i = 0; i < NR; ++i) {
              if (i < n) {
                const float4 xa = xs[(i * 2) * CH + pp];
                const float4 xb = xs[(i * 2 + 1) * CH + pp];
#pragma unroll
                for (int r = 0; r < R; ++r) {
                  float a = acc[r][i];
                  a = fmaf(xa.x, wf[r][0], a);
                  a = fmaf(xa.y, wf[r][1], a);
                  a = fmaf(xa.z, wf[r][2], a);
                  a = fmaf(xa.w, wf[r][3], a);
                  a = fmaf(xb.x, wf[r][4], a);
                  a = fmaf(xb.y, wf[r][5], a);
                  a = fmaf(xb.z, wf[r][6], a);
                  a = fmaf(xb.w, wf[r][7], a);
                  acc[r][i] = a;
                }
              }
            }
          }
        }
      }
    }
  }
  finish<NR, R, kI8>(p, t, acc, row0, s, S, red);
}

// Any format, shape and alignment: a warp (or S warps) per row, one element
// per lane per step through element_of(). INT8 sums in int64.
template <int NR>
__device__ __forceinline__ void run_generic(const MatvecParams& p, const TargetParams& t, int64_t blk,
                                            long long* red) {
  const DeviceWeight& w = t.w;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int S = t.S;
  const int g = warp / S, s = warp - (warp / S) * S;
  const int64_t row0 = blk * (kWarps / S) + g;
  const int64_t rr = row0 < w.rows ? row0 : w.rows - 1;
  const int64_t cols = p.cols;
  const int n = p.n;
  const int64_t cps = (cols + S - 1) / S;
  const int64_t sb = s * cps < cols ? s * cps : cols;
  const int64_t se = sb + cps < cols ? sb + cps : cols;
  if (w.format == WFormat::kInt8) {
    long long acc[1][NR];
#pragma unroll
    for (int i = 0; i < NR; ++i) acc[0][i] = 0;
    const int8_t* cb = w.codes + (t.matrix * w.stored_rows + w.first_row + rr) * cols;
    for (int64_t c = sb + lane; c < se; c += 32) {
      const int code = cb[c];
#pragma unroll
      for (int i = 0; i < NR; ++i) {
        if (i < n) acc[0][i] += code * static_cast<int>(p.xq.codes[static_cast<int64_t>(i) * p.xq.cols + c]);
      }
    }
    finish<NR, 1, true>(p, t, acc, row0, s, S, red);
  } else {
    float acc[1][NR];
#pragma unroll
    for (int i = 0; i < NR; ++i) acc[0][i] = 0.0f;
    for (int64_t c = sb + lane; c < se; c += 32) {
      const float wv = element_of(w, t.matrix, rr, c);
#pragma unroll
      for (int i = 0; i < NR; ++i) {
        if (i < n) acc[0][i] = fmaf(p.x[static_cast<int64_t>(i) * p.ldx + c], wv, acc[0][i]);
      }
    }
    finish<NR, 1, false>(p, t, acc, row0, s, S, red);
  }
}

// Blocks per SM the register budget is cut for (more warps keep more loads in
// flight); the NF4 and mixed kernels would spill below their natural size.
constexpr int min_blocks_of(int nr, int path) {
  return path == kGeneric ? (nr <= 8 ? 4 : 2)
         : path == kInt8  ? (nr == 1 ? 4 : nr == 2 ? 2 : 1)
         : (path == kBF16 || path == kF16) ? (nr == 1 ? 3 : nr == 2 ? 2 : 1)
         : path == kNF4 ? (nr == 1 ? 2 : 1)
                        : 1;
}

template <int NR, int PATH>
__global__ void __launch_bounds__(kThreads, min_blocks_of(NR, PATH)) matvec_kernel(const __grid_constant__ MatvecParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ long long red[kRedSlots];
  int ti = 0;
  for (int k = 1; k < p.num_targets; ++k) {
    if (static_cast<int64_t>(blockIdx.x) >= p.t[k].block_begin) ti = k;
  }
  const TargetParams& t = p.t[ti];
  const int64_t blk = static_cast<int64_t>(blockIdx.x) - t.block_begin;
  if constexpr (PATH == kMixed) {
    switch (t.path) {
      case kBF16: run_fast<NR, kBF16>(p, t, blk, smem, red); break;
      case kF16: run_fast<NR, kF16>(p, t, blk, smem, red); break;
      case kInt8: run_fast<NR, kInt8>(p, t, blk, smem, red); break;
      case kNF4: run_fast<NR, kNF4>(p, t, blk, smem, red); break;
      default: run_generic<NR>(p, t, blk, red); break;
    }
  } else if constexpr (PATH == kGeneric) {
    run_generic<NR>(p, t, blk, red);
  } else {
    run_fast<NR, PATH>(p, t, blk, smem, red);
  }
}

template <int NR>
void launch_nr(int path, unsigned grid, size_t smem, cudaStream_t stream, const MatvecParams& prm) {
  switch (path) {
    case kGeneric: matvec_kernel<NR, kGeneric><<<grid, kThreads, smem, stream>>>(prm); break;
    case kBF16: matvec_kernel<NR, kBF16><<<grid, kThreads, smem, stream>>>(prm); break;
    case kF16: matvec_kernel<NR, kF16><<<grid, kThreads, smem, stream>>>(prm); break;
    case kInt8: matvec_kernel<NR, kInt8><<<grid, kThreads, smem, stream>>>(prm); break;
    case kNF4: matvec_kernel<NR, kNF4><<<grid, kThreads, smem, stream>>>(prm); break;
    default: matvec_kernel<NR, kMixed><<<grid, kThreads, smem, stream>>>(prm); break;
  }
}

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) == 0; }

int floor_pow2_max8(int64_t v) {
  int s = 1;
  while (s < 8 && 2 * s <= v) s *= 2;
  return s;
}

bool weight_ok(const DeviceWeight& w, int64_t matrix) {
  if (w.rows < 0 || w.cols <= 0 || w.stack < 1 || matrix < 0 || matrix >= w.stack) return false;
  if (w.first_row < 0 || w.first_row + w.rows > w.stored_rows) return false;
  switch (w.format) {
    case WFormat::kF32:
    case WFormat::kBF16:
    case WFormat::kF16: return w.data != nullptr;
    case WFormat::kInt8: return w.codes && w.scb;
    case WFormat::kNF4:
      return w.packed && w.absmax_codes && w.nested_absmax && w.offset && w.quant_map && w.nested_map;
  }
  return false;
}

}  // namespace

cudaError_t launch_matvec(const MatvecTarget* targets, int num_targets, const float* x, int64_t ldx, int64_t n,
                          const Int8Activations* xq, bool accumulate, cudaStream_t stream) {
  if (!targets || num_targets < 1 || num_targets > kMatvecMaxTargets || n < 1 || n > kMatvecMaxRows || !x) {
    return cudaErrorInvalidValue;
  }
  const int64_t cols = targets[0].w.cols;
  if (ldx < cols) return cudaErrorInvalidValue;
  MatvecParams prm{};
  prm.x = x;
  prm.ldx = ldx;
  prm.cols = cols;
  prm.n = static_cast<int>(n);
  prm.num_targets = num_targets;
  prm.x_vec = aligned16(x) && ldx % 4 == 0;
  prm.accumulate = accumulate ? 1 : 0;
  if (xq) prm.xq = *xq;

  int nr = 1;
  while (nr < n) nr *= 2;
  int64_t smax[kMatvecMaxTargets];
  size_t smem = kTableBytes;
  int common_path = -1;
  for (int k = 0; k < num_targets; ++k) {
    const MatvecTarget& tg = targets[k];
    const DeviceWeight& w = tg.w;
    if (w.cols != cols || !weight_ok(w, tg.matrix)) return cudaErrorInvalidValue;
    if (w.rows > 0 && (!tg.y || tg.ldy < w.rows)) return cudaErrorInvalidValue;
    if (w.format == WFormat::kInt8) {
      if (!xq || !xq->codes || !xq->absmax || !xq->outlier_count || !xq->outlier_cols || xq->cols != cols ||
          xq->rows < n) {
        return cudaErrorInvalidValue;
      }
    }
    TargetParams& t = prm.t[k];
    t.w = w;
    t.matrix = tg.matrix;
    t.bias = tg.bias;
    t.y = tg.y;
    t.ldy = tg.ldy;
    int path = kGeneric;
    switch (w.format) {
      case WFormat::kBF16:
      case WFormat::kF16:
        // Row starts are 16-byte aligned when cols % 8 == 0.
        if (cols % 8 == 0 && aligned16(w.data)) path = w.format == WFormat::kBF16 ? kBF16 : kF16;
        break;
      case WFormat::kInt8:
        if (cols % 16 == 0 && cols <= kInt8FastMaxCols && aligned16(w.codes) && aligned16(xq->codes)) path = kInt8;
        break;
      case WFormat::kNF4:
        // cols % 64 == 0: blocks never span rows and rows start 32-byte aligned in the matrix.
        if (cols % 64 == 0 && aligned16(w.packed + tg.matrix * w.packed_stride)) path = kNF4;
        break;
      default: break;
    }
    t.path = path;
    if (path == kGeneric) {
      t.kt = 0;
      smax[k] = floor_pow2_max8(cols / 256);
    } else {
      const int64_t bytes_per_col = n * (path == kInt8 ? 1 : 4);
      const int64_t kt_max = (kXTileBudget / bytes_per_col) / 64 * 64;
      const int64_t ntiles = (cols + kt_max - 1) / kt_max;
      const int64_t kt = ((cols + ntiles - 1) / ntiles + 63) / 64 * 64;
      t.kt = static_cast<int>(kt);
      const size_t need = kTableBytes + static_cast<size_t>(n * kt * (path == kInt8 ? 1 : 4));
      if (need > smem) smem = need;
      const int64_t chunks = (cols < kt ? cols : kt) / chunk_elems(path);
      smax[k] = floor_pow2_max8(chunks / 32);
    }
    common_path = (k == 0 || common_path == path) ? path : kMixed;
  }

  // Smallest S that gives the GPU a few blocks per SM.
  auto blocks_of = [&](int k, int S) -> int64_t {
    const int64_t rows = prm.t[k].w.rows;
    const int64_t per_block = (kWarps / S) * rows_per_warp(prm.t[k].path, nr);
    return (rows + per_block - 1) / per_block;
  };
  const int64_t want = 4LL * device_sm_count();
  int S = 8;
  for (int cand = 1; cand <= 8; cand *= 2) {
    int64_t total = 0;
    for (int k = 0; k < num_targets; ++k) total += blocks_of(k, cand < smax[k] ? cand : static_cast<int>(smax[k]));
    if (total >= want) {
      S = cand;
      break;
    }
  }
  int64_t total = 0;
  for (int k = 0; k < num_targets; ++k) {
    prm.t[k].S = S < smax[k] ? S : static_cast<int>(smax[k]);
    prm.t[k].block_begin = total;
    total += blocks_of(k, prm.t[k].S);
  }
  if (total == 0) return cudaSuccess;
  if (total > 0x7fffffffLL) return cudaErrorInvalidValue;
  const unsigned grid = static_cast<unsigned>(total);
  switch (nr) {
    case 1: launch_nr<1>(common_path, grid, smem, stream, prm); break;
    case 2: launch_nr<2>(common_path, grid, smem, stream, prm); break;
    case 4: launch_nr<4>(common_path, grid, smem, stream, prm); break;
    case 8: launch_nr<8>(common_path, grid, smem, stream, prm); break;
    default: launch_nr<16>(common_path, grid, smem, stream, prm); break;
  }
  return launch_status();
}

}  // namespace ql::gpu
