// Weight decode to fp32/bf16 and the embedding lookup (dequantize.cuh). Both
// decode one contiguous run of stored elements: a view's rows
// [first_row, first_row + rows) are consecutive in storage, and an NF4 matrix
// is one flat stream of blocks. Vector path: 16-byte loads of 8 (bf16/f16),
// 16 (INT8, whole rows only: cols % 16 == 0) or 32 (NF4, a run starting on a
// half block) elements, values as weight_decode.cuh computes them, 16-byte
// stores; anything else goes element by element (docs/gpu-backend.md).
#include "gpu/kernels/dequantize.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "gpu/kernels/launch.cuh"
#include "gpu/kernels/weight_decode.cuh"

namespace ql::gpu {
namespace {

constexpr int kThreads = 256;
constexpr float kInv127 = 1.0f / 127.0f;  // as weight_decode.cuh's int8_element

// core/common/float16.h's f32_to_bf16: nearest even, NaN -> quiet NaN.
__device__ __forceinline__ uint16_t bf16_bits(float f) {
  uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Element i (stored index within matrix m) as weight_element() decodes it;
// weight_decode.cuh's int8_element/weight_element cannot be called from device
// code yet (DeviceWeight's members are host-only), so INT8 is written out here.
__device__ float flat_element(const DeviceWeight& w, int64_t m, int64_t i) {
  const int64_t numel = w.stored_rows * w.cols;
  switch (w.format) {
    case WFormat::kF32: return static_cast<const float*>(w.data)[m * numel + i];
    case WFormat::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(w.data)[m * numel + i]);
    case WFormat::kF16: return __half2float(static_cast<const __half*>(w.data)[m * numel + i]);
    case WFormat::kInt8: {
      const float code = static_cast<float>(w.codes[m * numel + i]);
      return __fmul_rn(__fmul_rn(code, w.scb[m * w.stored_rows + i / w.cols]), kInv127);
    }
    case WFormat::kNF4: return nf4_element(w, m, i);
  }
  return 0.0f;
}

__device__ __forceinline__ void put1(float* o, int64_t j, float v) { o[j] = v; }
__device__ __forceinline__ void put1(uint16_t* o, int64_t j, float v) { o[j] = bf16_bits(v); }

// v[0..8) to o[j .. j+8); o + j is 16-byte aligned.
__device__ __forceinline__ void put8(float* o, int64_t j, const float* v) {
  float4* d = reinterpret_cast<float4*>(o + j);
  d[0] = make_float4(v[0], v[1], v[2], v[3]);
  d[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void put8(uint16_t* o, int64_t j, const float* v) {
  uint4 u;
  u.x = bf16_bits(v[0]) | (static_cast<uint32_t>(bf16_bits(v[1])) << 16);
  u.y = bf16_bits(v[2]) | (static_cast<uint32_t>(bf16_bits(v[3])) << 16);
  u.z = bf16_bits(v[4]) | (static_cast<uint32_t>(bf16_bits(v[5])) << 16);
  u.w = bf16_bits(v[6]) | (static_cast<uint32_t>(bf16_bits(v[7])) << 16);
  *reinterpret_cast<uint4*>(o + j) = u;
}

__device__ __forceinline__ float half16_to_f32(uint16_t h, bool bf) {
  return bf ? __uint_as_float(static_cast<uint32_t>(h) << 16) : __half2float(__ushort_as_half(h));
}

// out[j] = element i0 + j of matrix m, j < count, for threads t of nt.
// out_vec: out is 16-byte aligned. qm: NF4 quant_map (shared memory).
template <typename OutT>
__device__ void decode_run(const DeviceWeight& w, int64_t m, int64_t i0, int64_t count, OutT* out, bool out_vec,
                           const float* qm, int64_t t, int64_t nt) {
  const int64_t numel = w.stored_rows * w.cols;
  if (out_vec) {
    if (w.format == WFormat::kBF16 || w.format == WFormat::kF16) {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + m * numel + i0;
      if (aligned16(src)) {
        const bool bf = w.format == WFormat::kBF16;
        const int64_t units = count / 8;
        for (int64_t k = t; k < units; k += nt) {
          const uint4 v = __ldg(reinterpret_cast<const uint4*>(src) + k);
          const uint32_t words[4] = {v.x, v.y, v.z, v.w};
          float f[8];
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            f[2 * q] = half16_to_f32(static_cast<uint16_t>(words[q] & 0xffffu), bf);
            f[2 * q + 1] = half16_to_f32(static_cast<uint16_t>(words[q] >> 16), bf);
          }
          put8(out, 8 * k, f);
        }
        for (int64_t j = units * 8 + t; j < count; j += nt) put1(out, j, half16_to_f32(src[j], bf));
        return;
      }
    } else if (w.format == WFormat::kInt8) {
      const int8_t* src = w.codes + m * numel + i0;
      // cols % 16 == 0 and i0 % 16 == 0: every 16 codes lie in one row.
      if (w.cols % 16 == 0 && i0 % 16 == 0 && aligned16(src)) {
        const int64_t units = count / 16;
        for (int64_t k = t; k < units; k += nt) {
          const float scb = w.scb[m * w.stored_rows + (i0 + 16 * k) / w.cols];
          const uint4 v = __ldg(reinterpret_cast<const uint4*>(src) + k);
          const uint32_t words[4] = {v.x, v.y, v.z, v.w};
          float f[16];
#pragma unroll
          for (int q = 0; q < 16; ++q) {
            const int8_t code = static_cast<int8_t>((words[q / 4] >> (8 * (q % 4))) & 0xffu);
            f[q] = __fmul_rn(__fmul_rn(static_cast<float>(code), scb), kInv127);
          }
          put8(out, 16 * k, f);
          put8(out, 16 * k + 8, f + 8);
        }
        for (int64_t j = units * 16 + t; j < count; j += nt) put1(out, j, flat_element(w, m, i0 + j));
        return;
      }
    } else if (w.format == WFormat::kNF4) {
      const uint8_t* pk = w.packed + m * w.packed_stride;
      // i0 % 32 == 0: each run of 32 starts on a byte and lies in one block of 64.
      if (i0 % 32 == 0 && aligned16(pk)) {
        const int64_t units = count / 32;
        for (int64_t k = t; k < units; k += nt) {
          const int64_t e = i0 + 32 * k;
          const float scale = nf4_block_scale(w, m, e / kNf4Block);
          const uint4 v = __ldg(reinterpret_cast<const uint4*>(pk + e / 2));
          const uint32_t words[4] = {v.x, v.y, v.z, v.w};
          float f[32];
#pragma unroll
          for (int b = 0; b < 16; ++b) {  // byte b: elements 2b (high nibble), 2b + 1
            const uint32_t byte = (words[b / 4] >> (8 * (b % 4))) & 0xffu;
            f[2 * b] = __fmul_rn(qm[byte >> 4], scale);
            f[2 * b + 1] = __fmul_rn(qm[byte & 15u], scale);
          }
#pragma unroll
          for (int q = 0; q < 4; ++q) put8(out, 32 * k + 8 * q, f + 8 * q);
        }
        for (int64_t j = units * 32 + t; j < count; j += nt) put1(out, j, nf4_element(w, m, i0 + j));
        return;
      }
    }
  }
  for (int64_t j = t; j < count; j += nt) put1(out, j, flat_element(w, m, i0 + j));
}

__device__ __forceinline__ void stage_quant_map(const DeviceWeight& w, float* s_qm) {
  if (w.format == WFormat::kNF4) {  // uniform over the block
    if (threadIdx.x < 16) s_qm[threadIdx.x] = w.quant_map[threadIdx.x];
    __syncthreads();
  }
}

template <typename OutT>
__global__ void __launch_bounds__(kThreads) dequantize_kernel(const DeviceWeight w, int64_t m, int64_t i0,
                                                              int64_t count, OutT* out, bool out_vec) {
  __shared__ float s_qm[16];
  stage_quant_map(w, s_qm);
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t nt = static_cast<int64_t>(gridDim.x) * blockDim.x;
  decode_run(w, m, i0, count, out, out_vec, s_qm, t, nt);
}

__global__ void __launch_bounds__(kThreads) embed_kernel(const DeviceWeight w, const int32_t* ids, int64_t n,
                                                         float* out, int64_t ldo, bool out_vec) {
  __shared__ float s_qm[16];
  stage_quant_map(w, s_qm);
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t id = ids[i];
    float* o = out + i * ldo;
    if (id < 0 || id >= w.rows) {
      for (int64_t c = threadIdx.x; c < w.cols; c += blockDim.x) o[c] = 0.0f;
      continue;
    }
    decode_run(w, 0, (w.first_row + id) * w.cols, w.cols, o, out_vec, s_qm, threadIdx.x, blockDim.x);
  }
}

bool host_aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

bool weight_ok(const DeviceWeight& w) {
  if (w.rows < 0 || w.cols <= 0 || w.stack < 1 || w.first_row < 0 || w.first_row + w.rows > w.stored_rows) {
    return false;
  }
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

template <typename OutT>
cudaError_t dequantize_rows(const DeviceWeight& w, int64_t matrix, int64_t first_row, int64_t rows, OutT* out,
                            cudaStream_t stream) {
  if (!weight_ok(w) || matrix < 0 || matrix >= w.stack || first_row < 0 || rows < 0 || first_row + rows > w.rows) {
    return cudaErrorInvalidValue;
  }
  if (rows == 0) return cudaSuccess;
  if (!out) return cudaErrorInvalidValue;
  const int64_t count = rows * w.cols;
  const int64_t i0 = (w.first_row + first_row) * w.cols;
  const unsigned grid = blocks_for(count / 8 + 1, kThreads);
  dequantize_kernel<OutT><<<grid, kThreads, 0, stream>>>(w, matrix, i0, count, out, host_aligned16(out));
  return launch_status();
}

}  // namespace

cudaError_t launch_dequantize_rows_f32(const DeviceWeight& w, int64_t matrix, int64_t first_row, int64_t rows,
                                       float* out, cudaStream_t stream) {
  return dequantize_rows(w, matrix, first_row, rows, out, stream);
}

cudaError_t launch_dequantize_rows_bf16(const DeviceWeight& w, int64_t matrix, int64_t first_row, int64_t rows,
                                        void* out, cudaStream_t stream) {
  return dequantize_rows(w, matrix, first_row, rows, static_cast<uint16_t*>(out), stream);
}

cudaError_t launch_embed(const DeviceWeight& w, const int32_t* ids, int64_t n, float* out, int64_t ldo,
                         cudaStream_t stream) {
  if (!weight_ok(w) || n < 0 || ldo < w.cols) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  if (!ids || !out) return cudaErrorInvalidValue;
  const unsigned grid = blocks_for(n, 1);
  embed_kernel<<<grid, kThreads, 0, stream>>>(w, ids, n, out, ldo, host_aligned16(out) && ldo % 4 == 0);
  return launch_status();
}

}  // namespace ql::gpu
