// cuBLASLt wrapper for dense (16-bit and fp32) weights (dense_gemm.cuh).
//
// Layout: cuBLAS is column-major, our matrices row-major. y[n, N] row-major is
// the column-major N x n matrix Y^T = W . X^T, where W row-major [N, K] is the
// column-major K x N matrix (op T) and x row-major [n, K] is column-major K x n.
#include "gpu/kernels/dense_gemm.cuh"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <map>
#include <mutex>
#include <tuple>

#include "gpu/kernels/launch.cuh"

namespace ql::gpu {
namespace {

constexpr int64_t kRowPad = 8;  // 16-bit elements: 16-byte aligned scratch rows

int64_t padded_k(int64_t K) { return (K + kRowPad - 1) / kRowPad * kRowPad; }

// Largest power of two (<= 256) dividing the address: what cuBLASLt's
// MIN_ALIGNMENT preferences ask for.
uint32_t alignment_of(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 1 && (a % al) != 0) al /= 2;
  return al;
}

template <typename T>
__device__ __forceinline__ T round_to(float v);
template <>
__device__ __forceinline__ __nv_bfloat16 round_to<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>
__device__ __forceinline__ __half round_to<__half>(float v) { return __float2half_rn(v); }

__device__ __forceinline__ uint32_t pack2(__nv_bfloat16 a, __nv_bfloat16 b) {
  return static_cast<uint32_t>(__bfloat16_as_ushort(a)) | (static_cast<uint32_t>(__bfloat16_as_ushort(b)) << 16);
}
__device__ __forceinline__ uint32_t pack2(__half a, __half b) {
  return static_cast<uint32_t>(__half_as_ushort(a)) | (static_cast<uint32_t>(__half_as_ushort(b)) << 16);
}

// out[r, c] = round(x[r, c]) for c < K (rows of `ldo` elements). kVec4: x rows
// 16-byte aligned (ldx % 4 == 0, K % 4 == 0), out 8-byte aligned: float4 in,
// 4 halves out per thread.
template <typename T, bool kVec4>
__global__ void round_rows_kernel(const float* __restrict__ x, int64_t ldx, int64_t n, int64_t K,
                                  T* __restrict__ out, int64_t ldo) {
  const int64_t per = kVec4 ? 4 : 1;
  const int64_t c = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * per;
  if (c >= K) return;
  for (int64_t r = blockIdx.y; r < n; r += gridDim.y) {
    const float* src = x + r * ldx + c;
    T* dst = out + r * ldo + c;
    if constexpr (kVec4) {
      const float4 v = *reinterpret_cast<const float4*>(src);
      uint2 o;
      o.x = pack2(round_to<T>(v.x), round_to<T>(v.y));
      o.y = pack2(round_to<T>(v.z), round_to<T>(v.w));
      *reinterpret_cast<uint2*>(dst) = o;
    } else {
      *dst = round_to<T>(*src);
    }
  }
}

// y[r, c] += bias[c]: the bias of the paths whose GEMM has no bias epilogue.
__global__ void add_bias_kernel(float* __restrict__ y, int64_t ldy, int64_t n, int64_t N,
                                const float* __restrict__ bias) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= N) return;
  const float b = bias[c];
  for (int64_t r = blockIdx.y; r < n; r += gridDim.y) y[r * ldy + c] += b;
}

// ---- cuBLASLt plan cache -------------------------------------------------------------

// Everything cublasLtMatmulAlgoGetHeuristic sees: shape, types, leading
// dimensions, alignments (the bias pointer's too), workspace, device.
using PlanKey = std::tuple<int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, uint32_t, uint32_t,
                           uint32_t, uint32_t, size_t>;

struct Plan {
  bool ok = false;
  cublasLtMatmulAlgo_t algo{};
};

std::mutex g_plan_mutex;
std::map<PlanKey, Plan>& plan_cache() {
  static std::map<PlanKey, Plan> cache;
  return cache;
}

struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtDescs() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

#define QL_LT_TRY(call)                            \
  do {                                             \
    const cublasStatus_t s_ = (call);              \
    if (s_ != CUBLAS_STATUS_SUCCESS) return s_;    \
  } while (0)

// One cuBLASLt matmul; CUBLAS_STATUS_NOT_SUPPORTED when no algorithm fits
// (the caller falls back). bias != nullptr: the BIAS epilogue.
cublasStatus_t lt_matmul(const GemmContext& ctx, cudaDataType_t dt, const void* A, int64_t N, int64_t K,
                         const void* B, int64_t ldb, int64_t n, const float* bias, float* y, int64_t ldc,
                         float beta, void* ws, size_t ws_bytes, cudaStream_t stream) {
  auto lt = static_cast<cublasLtHandle_t>(ctx.lt_handle);
  LtDescs d;
  QL_LT_TRY(cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  QL_LT_TRY(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  QL_LT_TRY(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  if (bias) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    const int32_t bias_type = CUDA_R_32F;
    QL_LT_TRY(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    QL_LT_TRY(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    QL_LT_TRY(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                             sizeof(bias_type)));
  }
  QL_LT_TRY(cublasLtMatrixLayoutCreate(&d.a, dt, static_cast<uint64_t>(K), static_cast<uint64_t>(N), K));
  QL_LT_TRY(cublasLtMatrixLayoutCreate(&d.b, dt, static_cast<uint64_t>(K), static_cast<uint64_t>(n), ldb));
  QL_LT_TRY(cublasLtMatrixLayoutCreate(&d.c, CUDA_R_32F, static_cast<uint64_t>(N), static_cast<uint64_t>(n), ldc));

  int device = 0;
  cudaGetDevice(&device);
  const PlanKey key{device,         static_cast<int>(dt), N, K, n, ldb, ldc, bias ? 1 : 0, alignment_of(A),
                    alignment_of(B), alignment_of(y),     bias ? alignment_of(bias) : 0u, ws_bytes};
  Plan plan;
  {
    std::lock_guard<std::mutex> lock(g_plan_mutex);
    auto it = plan_cache().find(key);
    if (it != plan_cache().end()) {
      plan = it->second;
    } else {
      QL_LT_TRY(cublasLtMatmulPreferenceCreate(&d.pref));
      const uint64_t max_ws = ws_bytes;
      const uint32_t al_a = alignment_of(A), al_b = alignment_of(B), al_c = alignment_of(y);
      QL_LT_TRY(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_ws,
                                                     sizeof(max_ws)));
      QL_LT_TRY(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a,
                                                     sizeof(al_a)));
      QL_LT_TRY(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b,
                                                     sizeof(al_b)));
      QL_LT_TRY(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c,
                                                     sizeof(al_c)));
      QL_LT_TRY(cublasLtMatmulPreferenceSetAttribute(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c,
                                                     sizeof(al_c)));
      cublasLtMatmulHeuristicResult_t result{};
      int count = 0;
      const cublasStatus_t hs =
          cublasLtMatmulAlgoGetHeuristic(lt, d.op, d.a, d.b, d.c, d.c, d.pref, 1, &result, &count);
      plan.ok = hs == CUBLAS_STATUS_SUCCESS && count > 0 && result.state == CUBLAS_STATUS_SUCCESS &&
                result.workspaceSize <= ws_bytes;
      if (plan.ok) plan.algo = result.algo;
      plan_cache().emplace(key, plan);
    }
  }
  if (!plan.ok) return CUBLAS_STATUS_NOT_SUPPORTED;
  const float alpha = 1.0f;
  return cublasLtMatmul(lt, d.op, &alpha, A, d.a, B, d.b, &beta, y, d.c, y, d.c, &plan.algo, ws, ws_bytes, stream);
}

cudaError_t fail(cublasStatus_t s, int* cublas_status) {
  if (cublas_status) *cublas_status = static_cast<int>(s);
  return cudaErrorUnknown;
}

cudaError_t add_bias(float* y, int64_t ldy, int64_t n, int64_t N, const float* bias, cudaStream_t stream) {
  const int threads = 256;
  const dim3 grid(blocks_for(N, threads, INT_MAX), static_cast<unsigned>(n < 65535 ? n : 65535));
  add_bias_kernel<<<grid, threads, 0, stream>>>(y, ldy, n, N, bias);
  return launch_status();
}

}  // namespace

size_t dense_gemm_scratch_bytes(int64_t n, int64_t K) {
  if (n <= 0 || K <= 0) return 0;
  return static_cast<size_t>(n) * static_cast<size_t>(padded_k(K)) * 2;
}

cudaError_t launch_dense_gemm(const GemmContext& ctx, const DeviceWeight& w, int64_t matrix, const float* x,
                              int64_t ldx, int64_t n, const float* bias, float* y, int64_t ldy, bool accumulate,
                              void* scratch, cudaStream_t stream, int* cublas_status) {
  if (cublas_status) *cublas_status = 0;
  const int64_t N = w.rows, K = w.cols;
  if (n == 0) return launch_status();
  const bool dense = w.format == WFormat::kF32 || w.format == WFormat::kBF16 || w.format == WFormat::kF16;
  if (!dense || n < 0 || N < 1 || K < 1 || matrix < 0 || matrix >= w.stack || !w.data || !x || !y ||
      ldx < K || (ldy < N && n > 1) || w.first_row < 0 || w.first_row + N > w.stored_rows)
    return cudaErrorInvalidValue;
  // cuBLAS ld must be >= rows even for one column.
  const int64_t ldc = ldy < N ? N : ldy;
  const size_t esize = w.format == WFormat::kF32 ? 4 : 2;
  const void* A = static_cast<const char*>(w.data) +
                  static_cast<size_t>((matrix * w.stored_rows + w.first_row) * K) * esize;

  // 256-byte aligned workspace (cuBLAS asks for it).
  void* ws = nullptr;
  size_t ws_bytes = 0;
  if (ctx.workspace && ctx.workspace_bytes >= 256) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(ctx.workspace);
    const uintptr_t aligned = (p + 255) / 256 * 256;
    ws = reinterpret_cast<void*>(aligned);
    ws_bytes = (ctx.workspace_bytes - (aligned - p)) / 256 * 256;
    if (ws_bytes == 0) ws = nullptr;
  }
  const float beta = accumulate ? 1.0f : 0.0f;
  auto blas = static_cast<cublasHandle_t>(ctx.blas_handle);
  auto gemm_ex = [&](const void* B, cudaDataType_t dt, int64_t ldb, cublasComputeType_t compute) -> cublasStatus_t {
    if (!blas) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (N > INT_MAX || K > INT_MAX || n > INT_MAX || ldb > INT_MAX || ldc > INT_MAX)
      return CUBLAS_STATUS_INVALID_VALUE;
    cublasStatus_t s = cublasSetStream(blas, stream);  // resets the workspace: set it after
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetWorkspace(blas, ws, ws_bytes);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetPointerMode(blas, CUBLAS_POINTER_MODE_HOST);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    const float alpha = 1.0f;
    return cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(n),
                        static_cast<int>(K), &alpha, A, dt, static_cast<int>(K), B, dt, static_cast<int>(ldb), &beta,
                        y, CUDA_R_32F, static_cast<int>(ldc), compute, CUBLAS_GEMM_DEFAULT);
  };

  if (w.format == WFormat::kF32) {
    // Exact fp32 products: PEDANTIC forbids TF32 and reduced-precision reductions.
    const cublasStatus_t s = gemm_ex(x, CUDA_R_32F, ldx, CUBLAS_COMPUTE_32F_PEDANTIC);
    if (s != CUBLAS_STATUS_SUCCESS) return fail(s, cublas_status);
    return bias ? add_bias(y, ldc, n, N, bias, stream) : launch_status();
  }

  // Round x to the weight's 16-bit type.
  if (!scratch) return cudaErrorInvalidValue;
  const int64_t ldb = padded_k(K);
  const bool vec = ldx % 4 == 0 && K % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(scratch) % 8 == 0;
  {
    const int threads = 256;
    const int64_t per = vec ? 4 : 1;
    const dim3 grid(blocks_for((K + per - 1) / per, threads, INT_MAX), static_cast<unsigned>(n < 65535 ? n : 65535));
    if (w.format == WFormat::kBF16) {
      auto* out = static_cast<__nv_bfloat16*>(scratch);
      if (vec) round_rows_kernel<__nv_bfloat16, true><<<grid, threads, 0, stream>>>(x, ldx, n, K, out, ldb);
      else round_rows_kernel<__nv_bfloat16, false><<<grid, threads, 0, stream>>>(x, ldx, n, K, out, ldb);
    } else {
      auto* out = static_cast<__half*>(scratch);
      if (vec) round_rows_kernel<__half, true><<<grid, threads, 0, stream>>>(x, ldx, n, K, out, ldb);
      else round_rows_kernel<__half, false><<<grid, threads, 0, stream>>>(x, ldx, n, K, out, ldb);
    }
    const cudaError_t e = launch_status();
    if (e != cudaSuccess) return e;
  }
  const cudaDataType_t dt = w.format == WFormat::kBF16 ? CUDA_R_16BF : CUDA_R_16F;

  // cuBLASLt with the bias epilogue, then without (bias kernel), then cublasGemmEx.
  cublasStatus_t s = CUBLAS_STATUS_NOT_SUPPORTED;
  if (ctx.lt_handle) {
    if (bias && reinterpret_cast<uintptr_t>(bias) % 16 == 0) {
      s = lt_matmul(ctx, dt, A, N, K, scratch, ldb, n, bias, y, ldc, beta, ws, ws_bytes, stream);
      if (s == CUBLAS_STATUS_SUCCESS) return launch_status();
    }
    s = lt_matmul(ctx, dt, A, N, K, scratch, ldb, n, nullptr, y, ldc, beta, ws, ws_bytes, stream);
  }
  if (s != CUBLAS_STATUS_SUCCESS) s = gemm_ex(scratch, dt, ldb, CUBLAS_COMPUTE_32F);
  if (s != CUBLAS_STATUS_SUCCESS) return fail(s, cublas_status);
  return bias ? add_bias(y, ldc, n, N, bias, stream) : launch_status();
}

}  // namespace ql::gpu
