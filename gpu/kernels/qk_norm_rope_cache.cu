// qk_norm_rope_cache.cuh: one warp per (row, head slot); slots [0, heads)
// are the query heads (normed and roped in place), [heads, heads + kv_heads)
// the KV heads (k normed and roped, k and v rounded into the cache). Lane i
// holds the rotary pairs (j, j + d/2) for j = i, i + 32, ... < d/2, so each
// element is read once and the rotation needs no exchange between lanes.
#include "gpu/kernels/qk_norm_rope_cache.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

namespace {

constexpr int kWarps = 4;
constexpr int kMaxPairs = 256 / 2 / 32;  // per lane, head_dim <= 256

struct Args {
  float* q;
  int64_t ldq;
  const float* k;
  int64_t ldk;
  const float* v;
  int64_t ldv;
  int heads, kv_heads, hd;
  DeviceWeight q_norm, k_norm;
  float eps;
  const float* cos;
  const float* sin;
  const int32_t* write_rows;
  uint16_t* k_cache;
  uint16_t* v_cache;
  int64_t ld_kv;
};

// Element c of a dense norm vector: what weight_element(w, 0, 0, c) returns for kF32/kBF16/kF16
// (weight_decode.cuh cannot be used from device code yet: DeviceWeight's index helpers are host-only).
__device__ __forceinline__ float norm_weight(const DeviceWeight& w, int c) {
  const int64_t i = w.first_row * w.cols + c;
  switch (w.format) {
    case WFormat::kF32: return static_cast<const float*>(w.data)[i];
    case WFormat::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(w.data)[i]);
    case WFormat::kF16: return __half2float(static_cast<const __half*>(w.data)[i]);
    default: return 0.0f;  // rejected by the launch function
  }
}

// Round to nearest even, NaN kept quiet: bit for bit core/common/float16.h's f32_to_bf16.
__device__ __forceinline__ uint16_t to_bf16(float f) {
  uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

__global__ void __launch_bounds__(kWarps * 32) qk_norm_rope_cache_kernel(const Args a) {
  const int lane = threadIdx.x & 31;
  const int64_t row = blockIdx.x;
  const int slot = blockIdx.y * kWarps + (threadIdx.x >> 5);
  if (slot >= a.heads + a.kv_heads) return;  // warp-uniform
  const bool is_q = slot < a.heads;
  const int kvh = slot - a.heads;
  const int hd = a.hd, half = hd / 2;
  const float* x = is_q ? a.q + row * a.ldq + int64_t(slot) * hd : a.k + row * a.ldk + int64_t(kvh) * hd;
  const DeviceWeight& w = is_q ? a.q_norm : a.k_norm;

  float lo[kMaxPairs], hi[kMaxPairs];
  double ss = 0.0;  // products of two floats are exact in double
#pragma unroll
  for (int p = 0; p < kMaxPairs; ++p) {
    const int j = lane + 32 * p;
    lo[p] = hi[p] = 0.0f;
    if (j < half) {
      lo[p] = x[j];
      hi[p] = x[j + half];
      ss += static_cast<double>(lo[p]) * lo[p] + static_cast<double>(hi[p]) * hi[p];
    }
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
  const float inv = static_cast<float>(1.0 / sqrt(ss / static_cast<double>(hd) + static_cast<double>(a.eps)));

  const float* cs = a.cos + row * hd;
  const float* sn = a.sin + row * hd;
  const int32_t dst_row = is_q ? 0 : a.write_rows[row];
  float* qd = is_q ? a.q + row * a.ldq + int64_t(slot) * hd : nullptr;
  uint16_t* kd = (!is_q && dst_row >= 0) ? a.k_cache + int64_t(dst_row) * a.ld_kv + int64_t(kvh) * hd : nullptr;
#pragma unroll
  for (int p = 0; p < kMaxPairs; ++p) {
    const int j = lane + 32 * p;
    if (j >= half) continue;
    // rms_norm: w * (x * inv); rope: lo' = lo*c - hi*s, hi' = hi*c' + lo*s' (each op rounded).
    const float nlo = __fmul_rn(norm_weight(w, j), __fmul_rn(lo[p], inv));
    const float nhi = __fmul_rn(norm_weight(w, j + half), __fmul_rn(hi[p], inv));
    const float rlo = __fsub_rn(__fmul_rn(nlo, cs[j]), __fmul_rn(nhi, sn[j]));
    const float rhi = __fadd_rn(__fmul_rn(nhi, cs[j + half]), __fmul_rn(nlo, sn[j + half]));
    if (is_q) {
      qd[j] = rlo;
      qd[j + half] = rhi;
    } else if (kd) {
      kd[j] = to_bf16(rlo);
      kd[j + half] = to_bf16(rhi);
    }
  }
  if (!is_q && dst_row >= 0) {
    const float* vs = a.v + row * a.ldv + int64_t(kvh) * hd;
    uint16_t* vd = a.v_cache + int64_t(dst_row) * a.ld_kv + int64_t(kvh) * hd;
    for (int d = lane; d < hd; d += 32) vd[d] = to_bf16(vs[d]);
  }
}

}  // namespace

cudaError_t launch_qk_norm_rope_cache(float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                                      int64_t n, int heads, int kv_heads, int head_dim, const DeviceWeight& q_norm,
                                      const DeviceWeight& k_norm, float eps, const float* cos, const float* sin,
                                      const int32_t* write_rows, void* k_cache, void* v_cache, int64_t ld_kv,
                                      cudaStream_t stream) {
  if (heads < 0 || kv_heads < 0 || head_dim < 2 || head_dim > 256 || head_dim % 2 != 0 || n > 0x7fffffffLL)
    return cudaErrorInvalidValue;
  auto dense_vector = [&](const DeviceWeight& w) {
    return (w.format == WFormat::kF32 || w.format == WFormat::kBF16 || w.format == WFormat::kF16) && w.data &&
           w.rows == 1 && w.cols == head_dim;
  };
  if ((heads > 0 && !dense_vector(q_norm)) || (kv_heads > 0 && !dense_vector(k_norm))) return cudaErrorInvalidValue;
  const int slots = heads + kv_heads;
  if (n <= 0 || slots <= 0) return cudaGetLastError();  // nothing to do
  Args a{};
  a.q = q;
  a.ldq = ldq;
  a.k = k;
  a.ldk = ldk;
  a.v = v;
  a.ldv = ldv;
  a.heads = heads;
  a.kv_heads = kv_heads;
  a.hd = head_dim;
  a.q_norm = q_norm;
  a.k_norm = k_norm;
  a.eps = eps;
  a.cos = cos;
  a.sin = sin;
  a.write_rows = write_rows;
  a.k_cache = static_cast<uint16_t*>(k_cache);
  a.v_cache = static_cast<uint16_t*>(v_cache);
  a.ld_kv = ld_kv;
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>((slots + kWarps - 1) / kWarps));
  qk_norm_rope_cache_kernel<<<grid, kWarps * 32, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace ql::gpu
