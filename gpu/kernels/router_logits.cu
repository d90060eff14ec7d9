// Router logits in fp32 (router_logits.cuh): a plain tiled SIMT product. One
// block of 256 threads computes 64 tokens x 64 experts; per k-step of 16 both
// tiles go to shared memory k-major (x widened as it is, W widened from its
// format), and thread (ty, tx) accumulates tokens ty + 16i and experts
// tx + 16j (i, j < 4) with fmaf, so each shared read serves four products.
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

template <WFormat F>
__global__ void __launch_bounds__(kThreads)
    router_logits_kernel(const DeviceWeight w, const float* __restrict__ x, int64_t ldx, int64_t n,
                         float* __restrict__ logits, int64_t ldl) {
  // +1 column: the loads below write a column of 16 k values per row, which
  // would otherwise hit one bank.
  __shared__ float xs[kStep][kTile + 1];
  __shared__ float ws[kStep][kTile + 1];
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int64_t t0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t e0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t K = w.cols, E = w.rows;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kStep) {
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

}  // namespace

cudaError_t launch_router_logits(const DeviceWeight& w, const float* x, int64_t ldx, int64_t n, float* logits,
                                 int64_t ldl, cudaStream_t stream) {
  const bool dense = w.format == WFormat::kF32 || w.format == WFormat::kBF16 || w.format == WFormat::kF16;
  if (!dense || w.data == nullptr || w.stack != 1 || w.rows < 1 || w.cols < 1 || n < 0 || w.first_row < 0 ||
      w.first_row + w.rows > w.stored_rows || ldx < w.cols || ldl < w.rows || (n > 0 && (!x || !logits)))
    return cudaErrorInvalidValue;
  if (n == 0) return launch_status();
  const int64_t token_tiles = (n + kTile - 1) / kTile;
  if (token_tiles > 65535) return cudaErrorInvalidValue;  // grid.y limit: 4 million tokens
  const dim3 grid(static_cast<unsigned>((w.rows + kTile - 1) / kTile), static_cast<unsigned>(token_tiles));
  switch (w.format) {
    case WFormat::kF32: router_logits_kernel<WFormat::kF32><<<grid, kThreads, 0, stream>>>(w, x, ldx, n, logits, ldl); break;
    case WFormat::kBF16: router_logits_kernel<WFormat::kBF16><<<grid, kThreads, 0, stream>>>(w, x, ldx, n, logits, ldl); break;
    default: router_logits_kernel<WFormat::kF16><<<grid, kThreads, 0, stream>>>(w, x, ldx, n, logits, ldl); break;
  }
  return launch_status();
}

}  // namespace ql::gpu
