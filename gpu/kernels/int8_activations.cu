// LLM.int8 activation quantization (int8_activations.cuh), identical to
// core/quant/int8_activations.cpp: the same outlier columns, absmax and codes.
// Launches (docs/gpu-backend.md, "INT8"):
//   kUnion, small x (<= 64 rows, <= 64K values): one block finds the outlier
//     columns (ascending, by a block-wide scan) and quantizes every row;
//   kUnion, large x: flags per column (memset + integer atomicOr, which is
//     order independent), one block compacts them into the ascending list,
//     then a block per row;
//   kPerRow, or no threshold: a block per row (its own list first).
// The row step: absmax over the non-outlier columns (the CPU keeps the LAST
// NaN it meets, so the reduction carries the largest NaN column), then
// code = round_half_even(x * fp32(127 / absmax)) clamped to [-127, 127], NaN -> 0.
#include "gpu/kernels/int8_activations.cuh"

#include <cstdint>

#include "gpu/kernels/launch.cuh"

namespace ql::gpu {
namespace {

constexpr size_t kAlign = 256;
constexpr int kRowThreads = 256;
constexpr int kSmallThreads = 1024;
constexpr int kListCache = 2048;                // outlier columns kept in shared memory
constexpr int64_t kSmallElements = 1 << 16;     // x this small (decode rows): one block does everything
constexpr int64_t kSmallRows = 64;
constexpr int kFlagRowsPerBlock = 32;

size_t align_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

struct Layout {
  size_t codes = 0, absmax = 0, count = 0, list = 0, total = 0;
};

Layout layout_of(int64_t rows, int64_t cols, OutlierMode mode) {
  const size_t r = rows > 0 ? static_cast<size_t>(rows) : 0;
  const size_t c = cols > 0 ? static_cast<size_t>(cols) : 0;
  const bool per_row = mode == OutlierMode::kPerRow;
  Layout l;
  size_t off = 0;
  l.codes = off;
  off += align_up(r * c);
  l.absmax = off;
  off += align_up(r * sizeof(float));
  l.count = off;
  off += align_up((per_row ? r : 1) * sizeof(int32_t));
  l.list = off;
  off += align_up((per_row ? r * c : c) * sizeof(int32_t));
  l.total = off;
  return l;
}

// Is column c in the ascending list[0, count)? (lower bound)
__device__ __forceinline__ bool in_sorted(const int32_t* list, int count, int32_t c) {
  int lo = 0, hi = count;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (list[mid] < c) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < count && list[lo] == c;
}

// core's round_to_int8 (round half to even, saturating, NaN -> 0). rintf is
// round-half-even; where core's shift trick is not exact (|v| > 2^22) both
// saturate.
__device__ __forceinline__ int8_t code_of(float x, float scale) {
  const float r = rintf(__fmul_rn(x, scale));
  if (!(r == r)) return 0;
  if (r > 127.0f) return 127;
  if (r < -127.0f) return -127;
  return static_cast<int8_t>(static_cast<int>(r));
}

// Appends the columns whose `flag` is set (one column per thread, ascending
// with threadIdx.x) to list[base ...]; returns the new length. Every thread of
// the block calls it.
template <int kBlock>
__device__ __forceinline__ int block_append(bool flag, int32_t col, int32_t* list, int base, int* s_warp) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const unsigned ballot = __ballot_sync(0xffffffffu, flag);
  const int before = __popc(ballot & ((1u << lane) - 1u));
  __syncthreads();  // s_warp is free (previous call done reading)
  if (lane == 0) s_warp[warp] = __popc(ballot);
  __syncthreads();
  int off = base, total = base;
#pragma unroll
  for (int w = 0; w < kBlock / 32; ++w) {
    const int v = s_warp[w];
    if (w < warp) off += v;
    total += v;
  }
  if (flag) list[off + before] = col;
  return total;
}

// Block-wide max of the finite part and of the NaN column (every thread ends
// with both).
template <int kBlock>
__device__ __forceinline__ void block_max(float& mx, long long& nan_col, float* s_mx, long long* s_nc) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    const long long o = __shfl_xor_sync(0xffffffffu, nan_col, off);
    nan_col = o > nan_col ? o : nan_col;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __syncthreads();
  if (lane == 0) {
    s_mx[warp] = mx;
    s_nc[warp] = nan_col;
  }
  __syncthreads();
  mx = s_mx[0];
  nan_col = s_nc[0];
#pragma unroll
  for (int w = 1; w < kBlock / 32; ++w) {
    mx = fmaxf(mx, s_mx[w]);
    nan_col = s_nc[w] > nan_col ? s_nc[w] : nan_col;
  }
}

struct RowScratch {
  float mx[32];
  long long nc[32];
  int warp[32];
};

// Quantizes one row given its outlier columns (ascending list; count 0: none).
template <int kBlock>
__device__ void quantize_row(const float* xr, int64_t cols, const int32_t* list, int count, int8_t* codes,
                             float* absmax_out, RowScratch& sc) {
  float mx = 0.0f;
  long long nan_col = -1;
  for (int64_t c = threadIdx.x; c < cols; c += kBlock) {
    if (count > 0 && in_sorted(list, count, static_cast<int32_t>(c))) continue;
    const float a = fabsf(xr[c]);
    if (a != a) {
      nan_col = c;  // a thread's columns ascend: this is its last NaN
    } else if (a > mx) {
      mx = a;
    }
  }
  block_max<kBlock>(mx, nan_col, sc.mx, sc.nc);
  const float absmax = nan_col >= 0 ? fabsf(xr[nan_col]) : mx;
  if (threadIdx.x == 0) *absmax_out = absmax;
  const float scale = absmax > 0.0f ? __fdiv_rn(127.0f, absmax) : 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += kBlock) {
    const bool outlier = count > 0 && in_sorted(list, count, static_cast<int32_t>(c));
    codes[c] = outlier ? int8_t{0} : code_of(xr[c], scale);
  }
}

// Points `list` at a shared copy of list[0, count) when it fits. Every thread calls it.
__device__ __forceinline__ const int32_t* cached_list(const int32_t* list, int count, int32_t* s_list) {
  if (count <= 0 || count > kListCache) return list;
  for (int k = threadIdx.x; k < count; k += blockDim.x) s_list[k] = list[k];
  __syncthreads();
  return s_list;
}

// kUnion, small x: everything in one block.
__global__ void __launch_bounds__(kSmallThreads) quantize_union_small(const float* x, int64_t ldx, float threshold,
                                                                      Int8Activations out) {
  __shared__ RowScratch sc;
  __shared__ int32_t s_list[kListCache];
  const int64_t cols = out.cols;
  int count = 0;
  if (threshold > 0.0f) {
    for (int64_t c0 = 0; c0 < cols; c0 += kSmallThreads) {
      const int64_t c = c0 + threadIdx.x;
      bool flag = false;
      if (c < cols) {
        for (int64_t i = 0; i < out.rows && !flag; ++i) flag = fabsf(x[i * ldx + c]) >= threshold;
      }
      count = block_append<kSmallThreads>(flag, static_cast<int32_t>(c), out.outlier_cols, count, sc.warp);
    }
  }
  if (threadIdx.x == 0) out.outlier_count[0] = count;
  __syncthreads();  // the list written above is visible to the block
  const int32_t* list = cached_list(out.outlier_cols, count, s_list);
  for (int64_t i = 0; i < out.rows; ++i) {
    quantize_row<kSmallThreads>(x + i * ldx, cols, list, count, out.codes + i * cols, out.absmax + i, sc);
  }
}

// kUnion, large x: flags[c] |= 1 where some row has |x| >= threshold. flags
// is outlier_cols, zeroed before.
__global__ void outlier_flags(const float* x, int64_t ldx, int64_t rows, int64_t cols, float threshold,
                              int32_t* flags) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  for (int64_t r0 = static_cast<int64_t>(blockIdx.y) * kFlagRowsPerBlock; r0 < rows;
       r0 += static_cast<int64_t>(gridDim.y) * kFlagRowsPerBlock) {
    const int64_t r1 = r0 + kFlagRowsPerBlock < rows ? r0 + kFlagRowsPerBlock : rows;
    bool flag = false;
    for (int64_t i = r0; i < r1; ++i) flag |= fabsf(x[i * ldx + c]) >= threshold;
    if (flag) {
      atomicOr(flags + c, 1);
      return;
    }
  }
}

// kUnion, large x: flags -> ascending list in place (an entry is written at
// or before its own column, after the block has read that chunk's flags).
__global__ void __launch_bounds__(kSmallThreads) compact_flags(Int8Activations out) {
  __shared__ int s_warp[32];
  const int64_t cols = out.cols;
  int count = 0;
  for (int64_t c0 = 0; c0 < cols; c0 += kSmallThreads) {
    const int64_t c = c0 + threadIdx.x;
    const bool flag = c < cols && out.outlier_cols[c] != 0;
    count = block_append<kSmallThreads>(flag, static_cast<int32_t>(c), out.outlier_cols, count, s_warp);
  }
  if (threadIdx.x == 0) out.outlier_count[0] = count;
}

// A block per row. kPerRow finds the row's own list first; kUnion reads the
// list of the kernels before (use_list) or has none.
template <bool kPerRow>
__global__ void __launch_bounds__(kRowThreads) quantize_rows(const float* x, int64_t ldx, float threshold,
                                                             bool use_list, Int8Activations out) {
  __shared__ RowScratch sc;
  __shared__ int32_t s_list[kListCache];
  const int64_t i = blockIdx.x;
  const int64_t cols = out.cols;
  const float* xr = x + i * ldx;
  int count = 0;
  const int32_t* list = out.outlier_cols;
  if constexpr (kPerRow) {
    int32_t* own = out.outlier_cols + i * cols;
    if (threshold > 0.0f) {
      for (int64_t c0 = 0; c0 < cols; c0 += kRowThreads) {
        const int64_t c = c0 + threadIdx.x;
        const bool flag = c < cols && fabsf(xr[c]) >= threshold;
        count = block_append<kRowThreads>(flag, static_cast<int32_t>(c), own, count, sc.warp);
      }
    }
    if (threadIdx.x == 0) out.outlier_count[i] = count;
    __syncthreads();  // the row's list is visible to the block
    list = own;
  } else {
    if (use_list) {
      count = out.outlier_count[0];
    } else if (i == 0 && threadIdx.x == 0) {
      out.outlier_count[0] = 0;
    }
  }
  list = cached_list(list, count, s_list);
  quantize_row<kRowThreads>(xr, cols, list, count, out.codes + i * cols, out.absmax + i, sc);
}

}  // namespace

size_t int8_activations_bytes(int64_t rows, int64_t cols, OutlierMode mode) {
  return layout_of(rows, cols, mode).total;
}

Int8Activations int8_activations_in(void* storage, int64_t rows, int64_t cols, OutlierMode mode) {
  const Layout l = layout_of(rows, cols, mode);
  auto* base = static_cast<unsigned char*>(storage);
  Int8Activations a;
  a.codes = reinterpret_cast<int8_t*>(base + l.codes);
  a.absmax = reinterpret_cast<float*>(base + l.absmax);
  a.outlier_count = reinterpret_cast<int32_t*>(base + l.count);
  a.outlier_cols = reinterpret_cast<int32_t*>(base + l.list);
  a.rows = rows;
  a.cols = cols;
  a.mode = mode;
  return a;
}

cudaError_t launch_quantize_int8_activations(const float* x, int64_t ldx, float threshold, Int8Activations out,
                                             cudaStream_t stream) {
  if (out.rows < 0 || out.cols < 0) return cudaErrorInvalidValue;
  if (out.rows == 0 || out.cols == 0) return cudaSuccess;
  // Outlier columns are int32; the row grid is at most 2^31 - 1 blocks.
  if (out.cols > 0x7fffffffLL || out.rows > 0x7fffffffLL || ldx < out.cols) return cudaErrorInvalidValue;
  if (!x || !out.codes || !out.absmax || !out.outlier_count || !out.outlier_cols) return cudaErrorInvalidValue;
  const unsigned rows = static_cast<unsigned>(out.rows);
  const bool outliers = threshold > 0.0f;  // false for NaN too, as on the CPU
  if (out.mode == OutlierMode::kPerRow) {
    quantize_rows<true><<<rows, kRowThreads, 0, stream>>>(x, ldx, threshold, false, out);
    return launch_status();
  }
  if (!outliers) {
    quantize_rows<false><<<rows, kRowThreads, 0, stream>>>(x, ldx, threshold, false, out);
    return launch_status();
  }
  if (out.rows <= kSmallRows && out.rows * out.cols <= kSmallElements) {
    quantize_union_small<<<1, kSmallThreads, 0, stream>>>(x, ldx, threshold, out);
    return launch_status();
  }
  cudaError_t e = cudaMemsetAsync(out.outlier_cols, 0, static_cast<size_t>(out.cols) * sizeof(int32_t), stream);
  if (e != cudaSuccess) return e;
  const unsigned gx = static_cast<unsigned>((out.cols + 255) / 256);
  const int64_t ychunks = (out.rows + kFlagRowsPerBlock - 1) / kFlagRowsPerBlock;
  const unsigned gy = static_cast<unsigned>(ychunks < 1024 ? ychunks : 1024);
  outlier_flags<<<dim3(gx, gy), 256, 0, stream>>>(x, ldx, out.rows, out.cols, threshold, out.outlier_cols);
  e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  compact_flags<<<1, kSmallThreads, 0, stream>>>(out);
  e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  quantize_rows<false><<<rows, kRowThreads, 0, stream>>>(x, ldx, threshold, true, out);
  return launch_status();
}

}  // namespace ql::gpu
