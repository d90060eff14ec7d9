// LLM.int8 weight quantization while loading (quantize_int8.cuh). Every step
// is the CPU's fp32 operation with the same rounding: the fp16 round trip,
// an exact max, one IEEE division for the scale, one multiply and a
// round-half-even to integer per code.
#include "gpu/kernels/quantize_int8.cuh"

#include <cuda_fp16.h>

#include "gpu/kernels/launch.cuh"

namespace ql::gpu {
namespace {

using qsrc::f16_round_trip;
using qsrc::load;
using qsrc::load8;
using qsrc::nonfinite;

constexpr float kF16Overflow = 65520.0f;  // fp16 rounds |x| >= 65520 to infinity

// 127 / absmax as the CPU divides; 0 for an all-zero row, so that every code becomes 0.
__device__ __forceinline__ float row_scale(float absmax) { return absmax == 0.0f ? 0.0f : __fdiv_rn(127.0f, absmax); }

__device__ __forceinline__ int8_t int8_code(float w16, float scale) {
  return static_cast<int8_t>(__float2int_rn(__fmul_rn(w16, scale)));  // |product| <= 127 (rounded): exact in int8
}

__device__ __forceinline__ void keep_first(unsigned long long& slot, int64_t idx) {
  if (static_cast<unsigned long long>(idx) < slot) slot = static_cast<unsigned long long>(idx);
}

// Checks one source value (stored index `stored`, [rows, cols]-order index `logical`) and returns |W16|.
__device__ __forceinline__ float check_and_abs16(float& x, int64_t stored, int64_t logical, unsigned long long& bad,
                                                 unsigned long long& beyond) {
  if (nonfinite(x)) {
    keep_first(bad, stored);
  } else if (fabsf(x) >= kF16Overflow) {
    keep_first(beyond, logical);
  }
  x = f16_round_trip(x);
  return fabsf(x);
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Max over the block (all threads call it). red: 2 x 32 floats, alternated by `parity` so one barrier per call
// suffices: a warp can only reuse a buffer after every warp has passed the next call's barrier.
__device__ __forceinline__ float block_max(float v, float (*red)[32], int parity) {
  v = warp_max(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
  if (lane == 0) red[parity][warp] = v;
  __syncthreads();
  float m = 0.0f;
  for (int w = 0; w < nwarps; ++w) m = fmaxf(m, red[parity][w]);
  return m;
}

__device__ __forceinline__ void report(QuantizeProblems* p, unsigned long long bad, unsigned long long beyond) {
  qsrc::report_min(&p->first_nonfinite, bad);
  qsrc::report_min(&p->first_beyond_f16, beyond);
}

// Not transposed, cols % 8 == 0: one block per row (blockDim a multiple of 32, NV * blockDim * 8 >= cols), each
// thread holding NV vectors of 8 values in registers; the source is read once.
template <SourceType S, int NV>
__global__ void __launch_bounds__(512) int8_rows_reg(const void* src, int64_t cols, int64_t total_rows, int8_t* codes,
                                                     float* scb, QuantizeProblems* problems) {
  __shared__ float red[2][32];
  const int64_t vecs = cols / 8;
  unsigned long long bad = kNoProblem, beyond = kNoProblem;
  int parity = 0;
  for (int64_t g = blockIdx.x; g < total_rows; g += gridDim.x, parity ^= 1) {
    const int64_t base = g * cols;
    float x[NV][8];
    float amax = 0.0f;
#pragma unroll
    for (int k = 0; k < NV; ++k) {
      const int64_t v = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
      if (v < vecs) load8<S>(src, base + v * 8, x[k]);
    }
#pragma unroll
    for (int k = 0; k < NV; ++k) {
      const int64_t v = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
      if (v < vecs) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const int64_t i = base + v * 8 + j;
          amax = fmaxf(amax, check_and_abs16(x[k][j], i, i, bad, beyond));
        }
      }
    }
    amax = block_max(amax, red, parity);
    if (threadIdx.x == 0) scb[g] = amax;
    const float scale = row_scale(amax);
#pragma unroll
    for (int k = 0; k < NV; ++k) {
      const int64_t v = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
      if (v < vecs) {
        uint32_t lo = 0, hi = 0;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          lo |= static_cast<uint32_t>(static_cast<uint8_t>(int8_code(x[k][j], scale))) << (8 * j);
          hi |= static_cast<uint32_t>(static_cast<uint8_t>(int8_code(x[k][j + 4], scale))) << (8 * j);
        }
        *reinterpret_cast<uint2*>(codes + base + v * 8) = make_uint2(lo, hi);
      }
    }
  }
  report(problems, bad, beyond);
}

// Not transposed, any shape and alignment: one block per row, two passes over the row (the second from cache).
template <SourceType S>
__global__ void __launch_bounds__(256) int8_rows_generic(const void* src, bool bytewise, int64_t cols,
                                                         int64_t total_rows, int8_t* codes, float* scb,
                                                         QuantizeProblems* problems) {
  __shared__ float red[2][32];
  unsigned long long bad = kNoProblem, beyond = kNoProblem;
  int parity = 0;
  for (int64_t g = blockIdx.x; g < total_rows; g += gridDim.x, parity ^= 1) {
    const int64_t base = g * cols;
    float amax = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      float x = load<S>(src, base + c, bytewise);
      amax = fmaxf(amax, check_and_abs16(x, base + c, base + c, bad, beyond));
    }
    amax = block_max(amax, red, parity);
    if (threadIdx.x == 0) scb[g] = amax;
    const float scale = row_scale(amax);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      codes[base + c] = int8_code(f16_round_trip(load<S>(src, base + c, bytewise)), scale);
    }
  }
  report(problems, bad, beyond);
}

// Transposed, pass 1: the absmax of 32 output rows (consecutive in each stored row) per block. Lanes run along r
// (coalesced), the 8 warps split the columns, then combine through shared memory.
template <SourceType S>
__global__ void __launch_bounds__(256) int8_transposed_absmax(SourceMatrices src, bool bytewise, float* scb,
                                                              QuantizeProblems* problems) {
  __shared__ float red[8][33];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t rows = src.rows, cols = src.cols, numel = rows * cols;
  const int64_t rt = (rows + 31) / 32, tiles = src.stack * rt;
  unsigned long long bad = kNoProblem, beyond = kNoProblem;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t m = t / rt, r = (t % rt) * 32 + lane;
    float amax = 0.0f;
    if (r < rows) {
      const int64_t mbase = m * numel;
      int64_t c = warp;
      for (; c + 8 * 7 < cols; c += 8 * 8) {  // 8 independent loads in flight
        float x[8];
#pragma unroll
        for (int j = 0; j < 8; ++j) x[j] = load<S>(src.data, mbase + (c + 8 * j) * rows + r, bytewise);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const int64_t cj = c + 8 * j;
          amax = fmaxf(amax, check_and_abs16(x[j], mbase + cj * rows + r, mbase + r * cols + cj, bad, beyond));
        }
      }
      for (; c < cols; c += 8) {
        float x = load<S>(src.data, mbase + c * rows + r, bytewise);
        amax = fmaxf(amax, check_and_abs16(x, mbase + c * rows + r, mbase + r * cols + c, bad, beyond));
      }
    }
    red[warp][lane] = amax;
    __syncthreads();
    if (warp == 0 && r < rows) {
      float mx = red[0][lane];
#pragma unroll
      for (int w = 1; w < 8; ++w) mx = fmaxf(mx, red[w][lane]);
      scb[m * rows + r] = mx;
    }
    __syncthreads();  // red is rewritten by the next tile
  }
  report(problems, bad, beyond);
}

constexpr int kTile = 64;

// Transposed, pass 2: codes through a 64 x 64 shared-memory tile (loads along stored rows, stores along output
// rows), with each output row's scale from pass 1.
template <SourceType S>
__global__ void __launch_bounds__(256) int8_transposed_codes(SourceMatrices src, bool bytewise, const float* scb,
                                                             int8_t* codes) {
  __shared__ float tile[kTile][kTile + 1];  // [c - c0][r - r0], W16 values
  __shared__ float scale[kTile];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t rows = src.rows, cols = src.cols, numel = rows * cols;
  const int64_t rt = (rows + kTile - 1) / kTile, ct = (cols + kTile - 1) / kTile;
  const int64_t tiles = src.stack * rt * ct;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t m = t / (rt * ct), rem = t % (rt * ct);
    const int64_t r0 = (rem / ct) * kTile, c0 = (rem % ct) * kTile;
    if (threadIdx.x < kTile) {
      const int64_t r = r0 + threadIdx.x;
      scale[threadIdx.x] = r < rows ? row_scale(scb[m * rows + r]) : 0.0f;
    }
#pragma unroll
    for (int i = 0; i < kTile / 8; ++i) {
      const int cc = warp + 8 * i;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int rr = lane + 32 * h;
        float v = 0.0f;
        if (c0 + cc < cols && r0 + rr < rows) {
          v = f16_round_trip(load<S>(src.data, m * numel + (c0 + cc) * rows + (r0 + rr), bytewise));
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
          codes[m * numel + (r0 + rr) * cols + (c0 + cc)] = int8_code(tile[cc][rr], scale[rr]);
        }
      }
    }
    __syncthreads();  // tile and scale are rewritten by the next tile
  }
}

bool aligned(const void* p, uintptr_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

unsigned grid_for(int64_t blocks) { return static_cast<unsigned>(blocks < (1LL << 24) ? blocks : (1LL << 24)); }

template <SourceType S>
cudaError_t launch_typed(const SourceMatrices& src, int8_t* codes, float* scb, QuantizeProblems* problems,
                         cudaStream_t stream) {
  const bool bytewise = !aligned(src.data, static_cast<uintptr_t>(source_element_bytes(S)));
  const int64_t total_rows = src.stack * src.rows;
  if (src.transposed) {
    const int64_t absmax_tiles = src.stack * ((src.rows + 31) / 32);
    int8_transposed_absmax<S><<<grid_for(absmax_tiles), 256, 0, stream>>>(src, bytewise, scb, problems);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    const int64_t tiles = src.stack * ((src.rows + kTile - 1) / kTile) * ((src.cols + kTile - 1) / kTile);
    int8_transposed_codes<S><<<grid_for(tiles), 256, 0, stream>>>(src, bytewise, scb, codes);
    return launch_status();
  }
  const int64_t vecs = src.cols / 8;
  if (src.cols % 8 == 0 && vecs <= 4096 && aligned(src.data, 16) && aligned(codes, 8)) {
    // The fewest vectors per thread that keep the block within 512 threads.
    int nv = 1;
    while ((vecs + nv - 1) / nv > 512) nv *= 2;
    const int64_t per = (vecs + nv - 1) / nv;
    const int threads = static_cast<int>((per + 31) / 32 * 32);
    const unsigned grid = grid_for(total_rows);
    switch (nv) {
      case 1: int8_rows_reg<S, 1><<<grid, threads, 0, stream>>>(src.data, src.cols, total_rows, codes, scb, problems); break;
      case 2: int8_rows_reg<S, 2><<<grid, threads, 0, stream>>>(src.data, src.cols, total_rows, codes, scb, problems); break;
      case 4: int8_rows_reg<S, 4><<<grid, threads, 0, stream>>>(src.data, src.cols, total_rows, codes, scb, problems); break;
      default: int8_rows_reg<S, 8><<<grid, threads, 0, stream>>>(src.data, src.cols, total_rows, codes, scb, problems); break;
    }
    return launch_status();
  }
  int8_rows_generic<S><<<grid_for(total_rows), 256, 0, stream>>>(src.data, bytewise, src.cols, total_rows, codes, scb,
                                                                 problems);
  return launch_status();
}

}  // namespace

cudaError_t launch_quantize_int8(const SourceMatrices& src, int8_t* codes, float* scb, QuantizeProblems* problems,
                                 cudaStream_t stream) {
  if (src.data == nullptr || codes == nullptr || scb == nullptr || problems == nullptr || src.rows <= 0 ||
      src.cols <= 0 || src.stack <= 0) {
    return cudaErrorInvalidValue;
  }
  if (!aligned(scb, 4)) return cudaErrorMisalignedAddress;
  switch (src.type) {
    case SourceType::kF32: return launch_typed<SourceType::kF32>(src, codes, scb, problems, stream);
    case SourceType::kBF16: return launch_typed<SourceType::kBF16>(src, codes, scb, problems, stream);
    case SourceType::kF16: return launch_typed<SourceType::kF16>(src, codes, scb, problems, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ql::gpu
