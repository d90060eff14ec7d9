// NF4 quantization while loading (quantize_nf4.cuh), in four launches:
//   1. block codes and the fp32 block absmax (into scratch), 8 lanes per block of 64;
//   2. one thread per run of 256 absmax: its sum, left to right in double;
//   3. one thread per matrix: the offset from the run sums, left to right;
//   4. one 256-thread block per nested block: nested absmax and absmax codes.
// The order of every floating-point operation is core/quant/nf4.cpp's, so the
// bytes are the CPU's; only exact operations (max) are reordered.
#include "gpu/kernels/quantize_nf4.cuh"

#include "gpu/kernels/launch.cuh"

namespace ql::gpu {
namespace {

using qsrc::load;
using qsrc::load8;
using qsrc::nonfinite;

constexpr int64_t kBlock = 64;
constexpr int64_t kNested = 256;
constexpr uint32_t kZeroLevelCode = 7;     // kNf4Levels[7] == 0
constexpr uint8_t kZeroDynamicCode = 127;  // signed_dynamic_map()[127] == 0

// core/quant/nf4_code_table.h's kNf4Thresholds: a value equal to a threshold goes to the lower level.
constexpr float kT0 = -0.8480964004993439f, kT1 = -0.6106329262256622f, kT2 = -0.4599952697753906f,
                kT3 = -0.33967943489551544f, kT4 = -0.23460740596055984f, kT5 = -0.13791173323988914f,
                kT6 = -0.045525018125772476f, kT7 = 0.03979014977812767f, kT8 = 0.1202552504837513f,
                kT9 = 0.2035212516784668f, kT10 = 0.2920137718319893f, kT11 = 0.3893125355243683f,
                kT12 = 0.5016634166240692f, kT13 = 0.6427869200706482f, kT14 = 0.8614784181118011f;

// The number of thresholds strictly below s (nf4_code), found by binary search over the sorted thresholds: each
// comparison halves the candidate codes. A NaN fails every comparison: code 0, as on the CPU.
__device__ __forceinline__ uint32_t nf4_code(float s) {
  const bool b3 = s > kT7;
  const bool b2 = s > (b3 ? kT11 : kT3);
  const bool b1 = s > (b3 ? (b2 ? kT13 : kT9) : (b2 ? kT5 : kT1));
  const float t0 = b3 ? (b2 ? (b1 ? kT14 : kT12) : (b1 ? kT10 : kT8)) : (b2 ? (b1 ? kT6 : kT4) : (b1 ? kT2 : kT0));
  const bool b0 = s > t0;
  return (static_cast<uint32_t>(b3) << 3) | (static_cast<uint32_t>(b2) << 2) | (static_cast<uint32_t>(b1) << 1) |
         static_cast<uint32_t>(b0);
}

// reciprocal_or_zero of nf4.cpp: 1/a, or 0 when that is not finite (a subnormal a), the caller then divides.
__device__ __forceinline__ float reciprocal_or_zero(float a) {
  const float inv = __fdiv_rn(1.0f, a);
  return nonfinite(inv) ? 0.0f : inv;
}

__device__ __forceinline__ uint32_t block_code(float x, float absmax, float inv) {
  return nf4_code(inv != 0.0f ? __fmul_rn(x, inv) : __fdiv_rn(x, absmax));
}

// One lane's 8 consecutive values of a block whose 8 lanes are consecutive lanes of the warp (all 32 lanes call
// it). Returns the block absmax; `word` gets the 4 packed bytes (first element of each pair in the high nibble).
__device__ __forceinline__ float quantize8(const float (&x)[8], uint32_t& word) {
  float a = 0.0f;
#pragma unroll
  for (int j = 0; j < 8; ++j) a = fmaxf(a, fabsf(x[j]));
  a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 1));
  a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 2));
  a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 4));
  if (a == 0.0f) {
    word = 0x77777777u;  // code 7 everywhere
    return a;
  }
  const float inv = reciprocal_or_zero(a);
  float s[8];
  if (inv != 0.0f) {
#pragma unroll
    for (int j = 0; j < 8; ++j) s[j] = __fmul_rn(x[j], inv);
  } else {  // a subnormal absmax: divide, as nf4.cpp
#pragma unroll
    for (int j = 0; j < 8; ++j) s[j] = __fdiv_rn(x[j], a);
  }
  word = 0;
#pragma unroll
  for (int p = 0; p < 4; ++p) {
    const uint32_t hi = nf4_code(s[2 * p]), lo = nf4_code(s[2 * p + 1]);
    word |= ((hi << 4) | lo) << (8 * p);
  }
  return a;
}

__device__ __forceinline__ void keep_first(unsigned long long& slot, int64_t idx) {
  if (static_cast<unsigned long long>(idx) < slot) slot = static_cast<unsigned long long>(idx);
}

// Not transposed, numel % 64 == 0: the stack is one flat run of blocks (block g = elements [64 g, 64 g + 64),
// bytes [32 g, 32 g + 32)). 8 lanes per block, one 16-byte load (two for fp32) each.
template <SourceType S>
__global__ void __launch_bounds__(256) nf4_blocks_flat(const void* src, int64_t total_blocks, uint8_t* packed,
                                                       float* absmax, QuantizeProblems* problems) {
  const int lane = threadIdx.x & 31, j8 = lane & 7;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t nwarps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  unsigned long long bad = kNoProblem;
  for (int64_t base = warp * 4; base < total_blocks; base += nwarps * 4) {  // warp-uniform: shuffles are safe
    const int64_t g = base + (lane >> 3);
    const bool valid = g < total_blocks;
    float x[8];
    if (valid) {
      load8<S>(src, g * kBlock + j8 * 8, x);
      // x * 0 is NaN exactly for a NaN or infinity: one FMA per value, the search only when one is there.
      float probe = 0.0f;
#pragma unroll
      for (int j = 0; j < 8; ++j) probe = __fmaf_rn(x[j], 0.0f, probe);
      if (probe != probe) {
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          if (nonfinite(x[j])) keep_first(bad, g * kBlock + j8 * 8 + j);
        }
      }
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j) x[j] = 0.0f;
    }
    uint32_t word;
    const float a = quantize8(x, word);
    if (valid) {
      *reinterpret_cast<uint32_t*>(packed + g * (kBlock / 2) + j8 * 4) = word;
      if (j8 == 0) absmax[g] = a;
    }
  }
  qsrc::report_min(&problems->first_nonfinite, bad);
}

constexpr int kTile = 64;

// Transposed with cols % 64 == 0: a 64 x 64 tile of the [rows, cols] matrix holds 64 whole blocks (one per tile
// row). Loads run along the stored rows (lanes on r); then 8 lanes per tile row quantize it.
template <SourceType S>
__global__ void __launch_bounds__(256) nf4_blocks_tile(SourceMatrices src, bool bytewise, uint8_t* packed,
                                                       int64_t packed_stride, float* absmax,
                                                       QuantizeProblems* problems) {
  __shared__ float tile[kTile][kTile + 1];  // [r - r0][c - c0]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t rows = src.rows, cols = src.cols, numel = rows * cols;
  const int64_t rt = (rows + kTile - 1) / kTile, ct = cols / kTile;
  const int64_t tiles = src.stack * rt * ct, nblocks = numel / kBlock;
  unsigned long long bad = kNoProblem;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t m = t / (rt * ct), rem = t % (rt * ct);
    const int64_t r0 = (rem / ct) * kTile, tc = rem % ct, c0 = tc * kTile;
#pragma unroll
    for (int i = 0; i < kTile / 8; ++i) {
      const int cc = warp + 8 * i;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int rr = lane + 32 * h;
        float v = 0.0f;
        if (r0 + rr < rows) {
          const int64_t idx = m * numel + (c0 + cc) * rows + (r0 + rr);
          v = load<S>(src.data, idx, bytewise);
          if (nonfinite(v)) keep_first(bad, idx);
        }
        tile[rr][cc] = v;
      }
    }
    __syncthreads();
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      const int rr = p * 32 + (threadIdx.x >> 3), q = threadIdx.x & 7;
      float x[8];
#pragma unroll
      for (int k = 0; k < 8; ++k) x[k] = tile[rr][q * 8 + k];
      uint32_t word;
      const float a = quantize8(x, word);
      const int64_t r = r0 + rr;
      if (r < rows) {
        const int64_t b = r * ct + tc;  // (r * cols + c0) / 64
        *reinterpret_cast<uint32_t*>(packed + m * packed_stride + b * (kBlock / 2) + q * 4) = word;
        if (q == 0) absmax[m * nblocks + b] = a;
      }
    }
    __syncthreads();  // the next tile overwrites `tile`
  }
  qsrc::report_min(&problems->first_nonfinite, bad);
}

// Any shape, either layout, any alignment: 8 lanes per block, lane j8 holding elements j8, j8 + 8, ... of it; a
// shuffle brings each odd element's code to its even neighbour, which writes the byte.
template <SourceType S>
__global__ void __launch_bounds__(256) nf4_blocks_generic(SourceMatrices src, bool bytewise, uint8_t* packed,
                                                          int64_t packed_stride, float* absmax,
                                                          QuantizeProblems* problems) {
  const int lane = threadIdx.x & 31, j8 = lane & 7;
  const int64_t rows = src.rows, cols = src.cols, numel = rows * cols;
  const int64_t nblocks = (numel + kBlock - 1) / kBlock, total = src.stack * nblocks;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t nwarps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  unsigned long long bad = kNoProblem;
  for (int64_t base = warp * 4; base < total; base += nwarps * 4) {  // warp-uniform: shuffles are safe
    const int64_t g = base + (lane >> 3);
    const int64_t m = g / nblocks, first = (g % nblocks) * kBlock;
    const int64_t count = g < total ? (numel - first < kBlock ? numel - first : kBlock) : 0;
    float x[8];
    float a = 0.0f;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int64_t j = j8 + 8 * k;
      x[k] = 0.0f;
      if (j < count) {
        const int64_t i = first + j;  // [rows, cols] order
        const int64_t idx = m * numel + (src.transposed ? (i % cols) * rows + i / cols : i);
        x[k] = load<S>(src.data, idx, bytewise);
        if (nonfinite(x[k])) keep_first(bad, idx);
      }
      a = fmaxf(a, fabsf(x[k]));
    }
    a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 1));
    a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 2));
    a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 4));
    const float inv = a == 0.0f ? 0.0f : reciprocal_or_zero(a);
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      const int64_t j = j8 + 8 * k;
      const uint32_t code = a == 0.0f ? kZeroLevelCode : block_code(x[k], a, inv);
      const uint32_t next = __shfl_down_sync(0xffffffffu, code, 1);  // element j + 1 (j even)
      if ((j8 & 1) == 0 && j < count) {
        packed[m * packed_stride + (first + j) / 2] = static_cast<uint8_t>((code << 4) | (j + 1 < count ? next : 0u));
      }
    }
    if (g < total && j8 == 0) absmax[g] = a;
  }
  qsrc::report_min(&problems->first_nonfinite, bad);
}

// Sum of each run of 256 block absmax, left to right in double (nf4.cpp's inner loop).
__global__ void __launch_bounds__(256) nf4_run_sums(const float* absmax, int64_t nblocks, int64_t nruns,
                                                    int64_t total_runs, double* sums) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; u < total_runs; u += stride) {
    const int64_t m = u / nruns, first = (u % nruns) * kNested;
    const int64_t count = nblocks - first < kNested ? nblocks - first : kNested;
    const float* p = absmax + m * nblocks + first;
    double s = 0.0;
#pragma unroll 8
    for (int64_t j = 0; j < count; ++j) s = __dadd_rn(s, static_cast<double>(p[j]));
    sums[u] = s;
  }
}

// offset = (sum of the run sums, left to right) / blocks, in double, rounded once to fp32.
__global__ void nf4_offsets(const double* sums, int64_t nruns, int64_t nblocks, int64_t stack, float* offset) {
  const int64_t m = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (m >= stack) return;
  double s = 0.0;
  for (int64_t k = 0; k < nruns; ++k) s = __dadd_rn(s, sums[m * nruns + k]);
  offset[m] = __double2float_rn(__ddiv_rn(s, static_cast<double>(nblocks)));
}

// nearest_dynamic_code of dynamic_map.cpp on the map in shared memory: pos = the number of entries below s (a
// branch-free lower_bound; s <= 1.0 == map[255] after the clamp, so pos <= 255), then the nearer neighbour, the
// lower one on a tie.
__device__ __forceinline__ uint8_t nearest_dynamic_code(const float* map, float s) {
  int pos = 0;
#pragma unroll
  for (int step = 128; step > 0; step >>= 1) {
    if (map[pos + step - 1] < s) pos += step;
  }
  if (pos == 0) return 0;
  const float below = map[pos - 1], above = map[pos];
  return static_cast<uint8_t>(fabsf(__fsub_rn(s, below)) <= fabsf(__fsub_rn(above, s)) ? pos - 1 : pos);
}

// Double quantization: one 256-thread block per nested block of 256 absmax values.
__global__ void __launch_bounds__(256) nf4_nested(const float* absmax, const float* offset, const float* nested_map,
                                                  int64_t nblocks, int64_t nruns, int64_t total_runs,
                                                  uint8_t* absmax_codes, float* nested_absmax) {
  __shared__ float map[256];
  __shared__ float red[2][8];
  map[threadIdx.x] = nested_map[threadIdx.x];
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int parity = 0;
  for (int64_t u = blockIdx.x; u < total_runs; u += gridDim.x, parity ^= 1) {
    const int64_t m = u / nruns, i = (u % nruns) * kNested + threadIdx.x;
    const bool valid = i < nblocks;
    const float centered = valid ? __fsub_rn(absmax[m * nblocks + i], offset[m]) : 0.0f;
    float mx = fabsf(centered);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (lane == 0) red[parity][warp] = mx;
    __syncthreads();  // double-buffered red: one barrier per nested block
    mx = 0.0f;
#pragma unroll
    for (int w = 0; w < 8; ++w) mx = fmaxf(mx, red[parity][w]);
    if (threadIdx.x == 0) nested_absmax[u] = mx;
    if (valid) {
      uint8_t code = kZeroDynamicCode;  // every absmax equals the offset: code 0.0, exact
      if (mx != 0.0f) {
        const float inv = reciprocal_or_zero(mx);
        float s = inv != 0.0f ? __fmul_rn(centered, inv) : __fdiv_rn(centered, mx);
        s = s < -1.0f ? -1.0f : (1.0f < s ? 1.0f : s);  // std::clamp
        code = nearest_dynamic_code(map, s);
      }
      absmax_codes[m * nblocks + i] = code;
    }
  }
}

bool aligned(const void* p, uintptr_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }

unsigned grid_for(int64_t blocks) {
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks < (1LL << 24) ? blocks : (1LL << 24));
}

struct Nf4Sizes {
  int64_t numel, nblocks, nruns;
  size_t absmax_bytes;  // rounded up to 256: the run sums follow
};

Nf4Sizes sizes(int64_t rows, int64_t cols, int64_t stack) {
  Nf4Sizes s;
  s.numel = rows * cols;
  s.nblocks = (s.numel + kBlock - 1) / kBlock;
  s.nruns = (s.nblocks + kNested - 1) / kNested;
  s.absmax_bytes = (static_cast<size_t>(stack * s.nblocks) * sizeof(float) + 255) / 256 * 256;
  return s;
}

template <SourceType S>
void launch_blocks(const SourceMatrices& src, const Nf4Sizes& z, uint8_t* packed, float* absmax,
                   QuantizeProblems* problems, cudaStream_t stream) {
  const bool bytewise = !aligned(src.data, static_cast<uintptr_t>(source_element_bytes(S)));
  const int64_t packed_stride = (z.numel + 1) / 2;
  const int64_t total = src.stack * z.nblocks;
  if (!src.transposed && z.numel % kBlock == 0 && aligned(src.data, 16) && aligned(packed, 4)) {
    nf4_blocks_flat<S><<<grid_for((total * 8 + 255) / 256), 256, 0, stream>>>(src.data, total, packed, absmax, problems);
  } else if (src.transposed && src.cols % kTile == 0 && aligned(packed, 4)) {
    const int64_t tiles = src.stack * ((src.rows + kTile - 1) / kTile) * (src.cols / kTile);
    nf4_blocks_tile<S><<<grid_for(tiles), 256, 0, stream>>>(src, bytewise, packed, packed_stride, absmax, problems);
  } else {
    nf4_blocks_generic<S><<<grid_for((total * 8 + 255) / 256), 256, 0, stream>>>(src, bytewise, packed, packed_stride,
                                                                              absmax, problems);
  }
}

}  // namespace

size_t nf4_scratch_bytes(int64_t rows, int64_t cols, int64_t stack) {
  const Nf4Sizes z = sizes(rows, cols, stack);
  return z.absmax_bytes + static_cast<size_t>(stack * z.nruns) * sizeof(double);
}

cudaError_t launch_quantize_nf4(const SourceMatrices& src, const float* nested_map, uint8_t* packed,
                                uint8_t* absmax_codes, float* nested_absmax, float* offset, void* scratch,
                                QuantizeProblems* problems, cudaStream_t stream) {
  if (src.data == nullptr || nested_map == nullptr || packed == nullptr || absmax_codes == nullptr ||
      nested_absmax == nullptr || offset == nullptr || scratch == nullptr || problems == nullptr || src.rows <= 0 ||
      src.cols <= 0 || src.stack <= 0) {
    return cudaErrorInvalidValue;
  }
  if (!aligned(scratch, 8) || !aligned(nested_absmax, 4) || !aligned(offset, 4) || !aligned(nested_map, 4)) {
    return cudaErrorMisalignedAddress;
  }
  const Nf4Sizes z = sizes(src.rows, src.cols, src.stack);
  float* absmax = static_cast<float*>(scratch);
  double* sums = reinterpret_cast<double*>(static_cast<unsigned char*>(scratch) + z.absmax_bytes);
  switch (src.type) {
    case SourceType::kF32: launch_blocks<SourceType::kF32>(src, z, packed, absmax, problems, stream); break;
    case SourceType::kBF16: launch_blocks<SourceType::kBF16>(src, z, packed, absmax, problems, stream); break;
    case SourceType::kF16: launch_blocks<SourceType::kF16>(src, z, packed, absmax, problems, stream); break;
    default: return cudaErrorInvalidValue;
  }
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  const int64_t total_runs = src.stack * z.nruns;
  nf4_run_sums<<<grid_for((total_runs + 255) / 256), 256, 0, stream>>>(absmax, z.nblocks, z.nruns, total_runs, sums);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  nf4_offsets<<<grid_for((src.stack + 127) / 128), 128, 0, stream>>>(sums, z.nruns, z.nblocks, src.stack, offset);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  nf4_nested<<<grid_for(total_runs), 256, 0, stream>>>(absmax, offset, nested_map, z.nblocks, z.nruns, total_runs,
                                                       absmax_codes, nested_absmax);
  return launch_status();
}

}  // namespace ql::gpu
