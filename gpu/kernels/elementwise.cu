// Element-wise ops and conversions (elementwise.cuh). Flat grid-stride loops,
// a float4 per thread and step when every pointer is 16-byte aligned (8-byte
// for the 16-bit side of a conversion), with a scalar tail; scalar otherwise.
#include <cmath>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "gpu/kernels/elementwise.cuh"
#include "gpu/kernels/launch.cuh"
#include "gpu/kernels/weight_decode.cuh"

namespace ql::gpu {

namespace {

constexpr int kThreads = 256;

bool aligned(const void* p, unsigned bytes) { return (reinterpret_cast<uintptr_t>(p) & (bytes - 1)) == 0; }

// ---- the per-element functions (the CPU's expressions) ----------------------

struct Swiglu {
  // g / (1.0f + exp(-g)) * u; exp(-g) correctly rounded to fp32 (evaluated in
  // double). At g -> -inf exp overflows to inf and the result is -0, not NaN.
  __device__ __forceinline__ float operator()(float g, float u) const {
    const float e = __double2float_rn(exp(static_cast<double>(-g)));
    return __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, e)), u);
  }
};

struct Add {
  __device__ __forceinline__ float operator()(float a, float b) const { return __fadd_rn(a, b); }
};

struct GeluTanh {
  float k;  // fp32(sqrt(fp32(2 / pi_f))), computed on the host as the CPU does
  __device__ __forceinline__ float operator()(float v) const {
    // 0.5f * v * (1.0f + tanh(k * (v + 0.044715f * v * v * v))), left to right.
    const float cube = __fmul_rn(__fmul_rn(__fmul_rn(0.044715f, v), v), v);
    const float arg = __fmul_rn(k, __fadd_rn(v, cube));
    const float t = __double2float_rn(tanh(static_cast<double>(arg)));
    return __fmul_rn(__fmul_rn(0.5f, v), __fadd_rn(1.0f, t));
  }
};

struct GeluErf {
  float inv_sqrt2;  // fp32(1 / sqrt2_f)
  __device__ __forceinline__ float operator()(float v) const {
    // 0.5f * v * (1.0f + erf(v * inv_sqrt2)), left to right.
    const float t = __double2float_rn(erf(static_cast<double>(__fmul_rn(v, inv_sqrt2))));
    return __fmul_rn(__fmul_rn(0.5f, v), __fadd_rn(1.0f, t));
  }
};

// ---- flat maps ----------------------------------------------------------------

__device__ __forceinline__ int64_t first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// No __restrict__: out may alias a or b (each element read before it is
// written, by the same thread).
template <class F, bool kVec>
__global__ void __launch_bounds__(kThreads) binary_kernel(const float* a, const float* b, float* out, int64_t n, F f) {
  const int64_t stride = grid_stride();
  int64_t i = first_index();
  if (kVec) {
    const int64_t nq = n >> 2;
    for (int64_t q = i; q < nq; q += stride) {
      const float4 x = reinterpret_cast<const float4*>(a)[q];
      const float4 y = reinterpret_cast<const float4*>(b)[q];
      float4 r;
      r.x = f(x.x, y.x);
      r.y = f(x.y, y.y);
      r.z = f(x.z, y.z);
      r.w = f(x.w, y.w);
      reinterpret_cast<float4*>(out)[q] = r;
    }
    i += nq * 4;
  }
  for (; i < n; i += stride) out[i] = f(a[i], b[i]);
}

template <class F, bool kVec>
__global__ void __launch_bounds__(kThreads) unary_kernel(const float* a, float* out, int64_t n, F f) {
  const int64_t stride = grid_stride();
  int64_t i = first_index();
  if (kVec) {
    const int64_t nq = n >> 2;
    for (int64_t q = i; q < nq; q += stride) {
      const float4 x = reinterpret_cast<const float4*>(a)[q];
      float4 r;
      r.x = f(x.x);
      r.y = f(x.y);
      r.z = f(x.z);
      r.w = f(x.w);
      reinterpret_cast<float4*>(out)[q] = r;
    }
    i += nq * 4;
  }
  for (; i < n; i += stride) out[i] = f(a[i]);
}

template <bool kVec>
__global__ void __launch_bounds__(kThreads) fill_kernel(float* out, int64_t n, float value) {
  const int64_t stride = grid_stride();
  int64_t i = first_index();
  if (kVec) {
    const int64_t nq = n >> 2;
    const float4 v = make_float4(value, value, value, value);
    for (int64_t q = i; q < nq; q += stride) reinterpret_cast<float4*>(out)[q] = v;
    i += nq * 4;
  }
  for (; i < n; i += stride) out[i] = value;
}

// ---- conversions (bit-exact with core/common/float16.h) --------------------------

__device__ __forceinline__ uint32_t bf16_bits(float f) {
  uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (bits >> 16) | 0x40u;  // quiet NaN, sign and payload kept
  bits += 0x7fffu + ((bits >> 16) & 1u);                                // nearest even
  return bits >> 16;
}

__device__ __forceinline__ uint32_t f16_bits(float f) {
  const uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return ((bits >> 16) & 0x8000u) | 0x7e00u;  // the CPU's NaN
  // cvt.rn.f16.f32: nearest even, subnormal halves kept, >= 65520 -> inf (as the CPU's code).
  return __half_as_ushort(__float2half_rn(f));
}

struct ToBf16 {
  __device__ __forceinline__ uint32_t operator()(float f) const { return bf16_bits(f); }
};
struct ToF16 {
  __device__ __forceinline__ uint32_t operator()(float f) const { return f16_bits(f); }
};

// kVec: in 16-byte, out 8-byte aligned.
template <class F, bool kVec>
__global__ void __launch_bounds__(kThreads) narrow_kernel(const float* __restrict__ in, int64_t n,
                                                          uint16_t* __restrict__ out, F f) {
  const int64_t stride = grid_stride();
  int64_t i = first_index();
  if (kVec) {
    const int64_t nq = n >> 2;
    for (int64_t q = i; q < nq; q += stride) {
      const float4 x = __ldg(reinterpret_cast<const float4*>(in) + q);
      uint2 p;
      p.x = f(x.x) | (f(x.y) << 16);  // little-endian: element 0 in the low half
      p.y = f(x.z) | (f(x.w) << 16);
      reinterpret_cast<uint2*>(out)[q] = p;
    }
    i += nq * 4;
  }
  for (; i < n; i += stride) out[i] = static_cast<uint16_t>(f(in[i]));
}

// kVec: in 8-byte, out 16-byte aligned.
template <bool kVec>
__global__ void __launch_bounds__(kThreads) widen_bf16_kernel(const uint16_t* __restrict__ in, int64_t n,
                                                              float* __restrict__ out) {
  const int64_t stride = grid_stride();
  int64_t i = first_index();
  if (kVec) {
    const int64_t nq = n >> 2;
    for (int64_t q = i; q < nq; q += stride) {
      const uint2 p = __ldg(reinterpret_cast<const uint2*>(in) + q);
      float4 r;
      r.x = __uint_as_float(p.x << 16);
      r.y = __uint_as_float(p.x & 0xffff0000u);
      r.z = __uint_as_float(p.y << 16);
      r.w = __uint_as_float(p.y & 0xffff0000u);
      reinterpret_cast<float4*>(out)[q] = r;
    }
    i += nq * 4;
  }
  for (; i < n; i += stride) out[i] = __uint_as_float(static_cast<uint32_t>(in[i]) << 16);
}

// ---- bias rows -------------------------------------------------------------------

// Elements c..c+3 of a vector weight: one 16-byte (fp32) or 8-byte (bf16/f16)
// load when aligned, else weight_element each; the same values either way.
__device__ __forceinline__ float4 vec_w4(const DeviceWeight& w, int64_t c) {
  const int64_t i = w.stored_index(0, c);
  const uintptr_t esize = w.format == WFormat::kF32 ? 4u : 2u;  // only read for the dense formats
  const uintptr_t a = reinterpret_cast<uintptr_t>(w.data) + static_cast<uintptr_t>(i) * esize;
  float4 r;
  if (w.format == WFormat::kF32 && (a & 15u) == 0) {
    r = __ldg(reinterpret_cast<const float4*>(a));
  } else if (w.format == WFormat::kBF16 && (a & 7u) == 0) {
    const uint2 u = __ldg(reinterpret_cast<const uint2*>(a));
    r = make_float4(__uint_as_float(u.x << 16), __uint_as_float(u.x & 0xffff0000u), __uint_as_float(u.y << 16),
                    __uint_as_float(u.y & 0xffff0000u));
  } else if (w.format == WFormat::kF16 && (a & 7u) == 0) {
    const uint2 u = __ldg(reinterpret_cast<const uint2*>(a));
    r = make_float4(__half2float(__ushort_as_half(static_cast<unsigned short>(u.x & 0xffffu))),
                    __half2float(__ushort_as_half(static_cast<unsigned short>(u.x >> 16))),
                    __half2float(__ushort_as_half(static_cast<unsigned short>(u.y & 0xffffu))),
                    __half2float(__ushort_as_half(static_cast<unsigned short>(u.y >> 16))));
  } else {
    r = make_float4(weight_element(w, 0, 0, c), weight_element(w, 0, 0, c + 1), weight_element(w, 0, 0, c + 2),
                    weight_element(w, 0, 0, c + 3));
  }
  return r;
}

// blockDim (tx, kThreads / tx): threadIdx.y picks the row, x walks its columns.
// kVec: out 16-byte aligned and cols % 4 == 0.
template <bool kVec>
__global__ void __launch_bounds__(kThreads) add_bias_kernel(float* out, int64_t rows, int64_t cols, DeviceWeight bias) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (r >= rows) return;
  float* o = out + r * cols;
  if (kVec) {
    float4* o4 = reinterpret_cast<float4*>(o);
    for (int64_t q = threadIdx.x; q < (cols >> 2); q += blockDim.x) {
      float4 v = o4[q];
      const float4 b = vec_w4(bias, q * 4);
      v.x = __fadd_rn(v.x, b.x);
      v.y = __fadd_rn(v.y, b.y);
      v.z = __fadd_rn(v.z, b.z);
      v.w = __fadd_rn(v.w, b.w);
      o4[q] = v;
    }
  } else {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) o[c] = __fadd_rn(o[c], weight_element(bias, 0, 0, c));
  }
}

unsigned flat_blocks(int64_t n, bool vec) { return blocks_for(vec ? (n + 3) / 4 : n, kThreads); }

template <class F>
cudaError_t launch_binary(const float* a, const float* b, int64_t n, float* out, F f, cudaStream_t s) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const bool vec = aligned(a, 16) && aligned(b, 16) && aligned(out, 16);
  if (vec) binary_kernel<F, true><<<flat_blocks(n, true), kThreads, 0, s>>>(a, b, out, n, f);
  else binary_kernel<F, false><<<flat_blocks(n, false), kThreads, 0, s>>>(a, b, out, n, f);
  return launch_status();
}

template <class F>
cudaError_t launch_unary(const float* a, int64_t n, float* out, F f, cudaStream_t s) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const bool vec = aligned(a, 16) && aligned(out, 16);
  if (vec) unary_kernel<F, true><<<flat_blocks(n, true), kThreads, 0, s>>>(a, out, n, f);
  else unary_kernel<F, false><<<flat_blocks(n, false), kThreads, 0, s>>>(a, out, n, f);
  return launch_status();
}

template <class F>
cudaError_t launch_narrow(const float* in, int64_t n, void* out, F f, cudaStream_t s) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  uint16_t* o = static_cast<uint16_t*>(out);
  const bool vec = aligned(in, 16) && aligned(out, 8);
  if (vec) narrow_kernel<F, true><<<flat_blocks(n, true), kThreads, 0, s>>>(in, n, o, f);
  else narrow_kernel<F, false><<<flat_blocks(n, false), kThreads, 0, s>>>(in, n, o, f);
  return launch_status();
}

}  // namespace

cudaError_t launch_swiglu(const float* gate, const float* up, int64_t n, float* out, cudaStream_t stream) {
  return launch_binary(gate, up, n, out, Swiglu{}, stream);
}

cudaError_t launch_add(const float* a, const float* b, int64_t n, float* out, cudaStream_t stream) {
  return launch_binary(a, b, n, out, Add{}, stream);
}

cudaError_t launch_gelu(const float* x, int64_t n, GeluMode mode, float* out, cudaStream_t stream) {
  // The CPU's constants: std::sqrt(2.0f / pi_v<float>) and 1.0f / sqrt2_v<float>,
  // fp32 operations on the fp32-rounded constants (IEEE, so the host computes
  // the same bits).
  const float pi_f = 3.14159265358979323846f;
  const float sqrt2_f = 1.41421356237309504880f;
  if (mode == GeluMode::kTanh) return launch_unary(x, n, out, GeluTanh{std::sqrt(2.0f / pi_f)}, stream);
  if (mode == GeluMode::kErf) return launch_unary(x, n, out, GeluErf{1.0f / sqrt2_f}, stream);
  return cudaErrorInvalidValue;
}

cudaError_t launch_add_bias_rows(float* out, int64_t rows, int64_t cols, const DeviceWeight& bias,
                                 cudaStream_t stream) {
  if (rows < 0 || cols < 0) return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0) return cudaSuccess;
  const bool vec = cols % 4 == 0 && aligned(out, 16);
  const int64_t per_row = (cols + 3) / 4;  // threads a row would like
  int tx = 32;
  while (tx < kThreads && tx < per_row) tx <<= 1;
  const int ty = kThreads / tx;
  const int64_t blocks = (rows + ty - 1) / ty;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidConfiguration;
  const dim3 block(tx, ty);
  if (vec) add_bias_kernel<true><<<static_cast<unsigned>(blocks), block, 0, stream>>>(out, rows, cols, bias);
  else add_bias_kernel<false><<<static_cast<unsigned>(blocks), block, 0, stream>>>(out, rows, cols, bias);
  return launch_status();
}

cudaError_t launch_fill_f32(float* out, int64_t n, float value, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const bool vec = aligned(out, 16);
  if (vec) fill_kernel<true><<<flat_blocks(n, true), kThreads, 0, stream>>>(out, n, value);
  else fill_kernel<false><<<flat_blocks(n, false), kThreads, 0, stream>>>(out, n, value);
  return launch_status();
}

cudaError_t launch_f32_to_bf16(const float* in, int64_t n, void* out, cudaStream_t stream) {
  return launch_narrow(in, n, out, ToBf16{}, stream);
}

cudaError_t launch_f32_to_f16(const float* in, int64_t n, void* out, cudaStream_t stream) {
  return launch_narrow(in, n, out, ToF16{}, stream);
}

cudaError_t launch_bf16_to_f32(const void* in, int64_t n, float* out, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const uint16_t* p = static_cast<const uint16_t*>(in);
  const bool vec = aligned(in, 8) && aligned(out, 16);
  if (vec) widen_bf16_kernel<true><<<flat_blocks(n, true), kThreads, 0, stream>>>(p, n, out);
  else widen_bf16_kernel<false><<<flat_blocks(n, false), kThreads, 0, stream>>>(p, n, out);
  return launch_status();
}

}  // namespace ql::gpu
