// Router logits in fp32 (router_logits.cuh): a plain tiled SIMT product. One
// block of 256 threads computes 64 tokens x 64 experts over one slice of the
// columns; per k-step of 16 both tiles go to shared memory k-major (x widened
// as it is, W widened from its format), and thread (ty, tx) accumulates tokens
// ty + 16i and experts tx + 16j (i, j < 4) with fmaf, so each shared read
// serves four products.
// Split over the columns: a router has few experts (2 tiles of 64 for 128), so
// a prompt of a few hundred tokens makes only a handful of tiles, and one block
// walking all 2,048 columns of its tile took ~290 us (H100, 32 tokens). With
// S slices there are S times as many blocks; each writes its partial sums to
// scratch [S, n, E] and a second kernel adds them in slice order (fixed:
// deterministic).
#include "gpu/kernels/router_logits.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu/kernels/launch.cuh"

namespace ql::gpu {
namespace {

constexpr int kTile = 64;  // tokens and experts per block
constexpr int kStep = 16;  // k per shared tile
constexpr int kThreads = 256;

template <WFormat F>
__device__ __forceinline__ float weight_at(const void* data, int64_t i) {
  if constexpr (F == WFormat::kF32) return static_cast<const float*>(data)[i];
  if constexpr (F == WFormat::kBF16) return __bfloat162float(static_cast<const __nv_bfloat16*>(data)[i]);
  return __half2float(static_cast<const __half*>(data)[i]);
}

// Slice blockIdx.z covers columns [z * slice, min(K, (z + 1) * slice)); its sums go to
// out + z * out_slice_stride (row stride ldl).
template <WFormat F>
__global__ void __launch_bounds__(kThreads)
    router_logits_kernel(const DeviceWeight w, const float* __restrict__ x, int64_t ldx, int64_t n, int64_t slice,
                         float* __restrict__ out, int64_t ldl, int64_t out_slice_stride) {
  // +1 column: the loads below write a column of 16 k values per row, which
  // would otherwise hit one bank.
  __shared__ float xs[kStep][kTile + 1];
  __shared__ float ws[kStep][kTile + 1];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int64_t t0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t e0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t E = w.rows;
  const int64_t kb = static_cast<int64_t>(blockIdx.z) * slice;
  const int64_t K = kb + slice < w.cols ? kb + slice : w.cols;
  float* logits = out + static_cast<int64_t>(blockIdx.z) * out_slice_stride;
  float acc[4][4] = {};
  for (int64_t k0 = kb; k0 < K; k0 += kStep) {
    // 64 rows x 16 k per tile: element (row = item / 16, k = item % 16), 4 per thread.
#pragma unroll
    for (int i = 0; i < kTile * kStep / kThreads; ++i) {
      const int item = tid + i * kThreads;
      const int row = item >> 4, k = item & 15;
      const int64_t kk = k0 + k;
      const int64_t t = t0 + row, e = e0 + row;
      xs[k][row] = (t < n && kk < K) ? x[t * ldx + kk] : 0.0f;
      ws[k][row] = (e < E && kk < K) ? weight_at<F>(w.data, w.stored_index(e, kk)) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kStep; ++k) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = xs[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = ws[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();  // the tiles are rewritten next step
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t t = t0 + ty + 16 * i;
    if (t >= n) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t e = e0 + tx + 16 * j;
      if (e < E) logits[t * ldl + e] = acc[i][j];
    }
  }
}

// logits[t, e] = sum over s in order of partial[s, t, e].
__global__ void __launch_bounds__(kThreads)
    router_sum_kernel(const float* __restrict__ partial, int slices, int64_t n, int64_t E, float* __restrict__ logits,
                      int64_t ldl) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= n * E) return;
  const int64_t t = i / E, e = i - t * E;
  float sum = partial[i];
  for (int s = 1; s < slices; ++s) sum += partial[static_cast<int64_t>(s) * n * E + i];
  logits[t * ldl + e] = sum;
}

// Column slices for n tokens: enough blocks for two per multiprocessor, each slice a multiple
// of the k-step and at least 64 columns (shorter ones cost more in the sum than they save).
struct Split {
  int slices;
  int64_t slice;
};
Split split_of(int64_t n, int64_t E, int64_t K) {
  const int64_t tiles = ((E + kTile - 1) / kTile) * ((n + kTile - 1) / kTile);
  const int64_t want = 2LL * device_sm_count();
  int64_t s = tiles >= want ? 1 : (want + tiles - 1) / tiles;
  const int64_t most = K / 64 > 1 ? K / 64 : 1;
  if (s > most) s = most;
  if (s > 64) s = 64;
  int64_t slice = (K + s - 1) / s;
  slice = (slice + kStep - 1) / kStep * kStep;
  return {static_cast<int>((K + slice - 1) / slice), slice};
}

size_t scratch_of(const Split& sp, int64_t n, int64_t experts) {
  return sp.slices > 1 ? static_cast<size_t>(sp.slices) * n * experts * sizeof(float) : 0;
}

}  // namespace

size_t router_logits_scratch_bytes(int64_t n, int64_t experts, int64_t cols) {
  if (n < 1 || experts < 1 || cols < 1) return 0;
  return scratch_of(split_of(n, experts, cols), n, experts);
}

cudaError_t launch_router_logits(const DeviceWeight& w, const float* x, int64_t ldx, int64_t n, float* logits,
                                 int64_t ldl, void* scratch, size_t scratch_bytes, cudaStream_t stream) {
  const bool dense = w.format == WFormat::kF32 || w.format == WFormat::kBF16 || w.format == WFormat::kF16;
  if (!dense || w.data == nullptr || w.stack != 1 || w.rows < 1 || w.cols < 1 || n < 0 || w.first_row < 0 ||
      w.first_row + w.rows > w.stored_rows || ldx < w.cols || ldl < w.rows || (n > 0 && (!x || !logits)))
    return cudaErrorInvalidValue;
  if (n == 0) return launch_status();
  const int64_t token_tiles = (n + kTile - 1) / kTile;
  if (token_tiles > 65535) return cudaErrorInvalidValue;  // grid.y limit: 4 million tokens
  const Split sp = split_of(n, w.rows, w.cols);
  const size_t need = scratch_of(sp, n, w.rows);
  if (need > 0 && (scratch == nullptr || scratch_bytes < need)) return cudaErrorInvalidValue;
  float* out = need > 0 ? static_cast<float*>(scratch) : logits;
  const int64_t ldo = need > 0 ? w.rows : ldl;
  const int64_t stride = need > 0 ? n * w.rows : 0;
  const dim3 grid(static_cast<unsigned>((w.rows + kTile - 1) / kTile), static_cast<unsigned>(token_tiles),
                  static_cast<unsigned>(sp.slices));
  switch (w.format) {
    case WFormat::kF32:
      router_logits_kernel<WFormat::kF32><<<grid, kThreads, 0, stream>>>(w, x, ldx, n, sp.slice, out, ldo, stride);
      break;
    case WFormat::kBF16:
      router_logits_kernel<WFormat::kBF16><<<grid, kThreads, 0, stream>>>(w, x, ldx, n, sp.slice, out, ldo, stride);
      break;
    default:
      router_logits_kernel<WFormat::kF16><<<grid, kThreads, 0, stream>>>(w, x, ldx, n, sp.slice, out, ldo, stride);
      break;
  }
  if (need > 0) {
    const cudaError_t e = launch_status();
    if (e != cudaSuccess) return e;
    router_sum_kernel<<<blocks_for(n * w.rows, kThreads, 1LL << 31), kThreads, 0, stream>>>(
        static_cast<const float*>(scratch), sp.slices, n, w.rows, logits, ldl);
  }
  return launch_status();
}

}  // namespace ql::gpu
