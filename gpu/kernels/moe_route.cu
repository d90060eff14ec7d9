// MoE routing (moe_route.cuh). One block per token: the logits go to shared
// memory, a block max and a block sum (fixed order) give the fp32 softmax as
// the CPU computes it, then each expert's rank is counted directly (how many
// experts beat it: higher probability, or equal and lower index), which is
// the CPU's sort order without a sort and needs no atomics. Thread i < top_k
// then writes slot i with the sum of the chosen probabilities taken in slot
// order, as route_token does.
#include <cstdint>

#include "gpu/kernels/launch.cuh"
#include "gpu/kernels/moe_route.cuh"

namespace ql::gpu {

namespace {

constexpr int kMaxExperts = 1024;
constexpr int kMaxThreads = 256;

template <bool kMax>
__device__ __forceinline__ float combine(float a, float b) {
  return kMax ? fmaxf(a, b) : __fadd_rn(a, b);
}

// Every thread gets the same value: warps reduce by xor butterflies, then each
// thread folds the warp results in warp order.
template <bool kMax>
__device__ float block_reduce(float v, float* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = combine<kMax>(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();  // red may still be read by the previous reduction
  if (lane == 0) red[warp] = v;
  __syncthreads();
  float r = red[0];
  for (int w = 1; w < warps; ++w) r = combine<kMax>(r, red[w]);
  return r;
}

// Sort key: a NaN ranks below every probability (probabilities are >= 0), so
// the order stays strict and every rank in [0, experts) is taken once.
__device__ __forceinline__ float rank_key(float p) { return p == p ? p : -1.0f; }

__global__ void __launch_bounds__(kMaxThreads) moe_route_kernel(const float* __restrict__ logits, int64_t ldl,
                                                                  int64_t n, int experts, int top_k,
                                                                  int32_t* __restrict__ ids,
                                                                  float* __restrict__ weights) {
  __shared__ float s_p[kMaxExperts];
  __shared__ int32_t s_order[kMaxExperts];
  __shared__ float s_red[32];
  for (int64_t t = blockIdx.x; t < n; t += gridDim.x) {
    __syncthreads();  // the previous token's readers of s_p / s_order are done
    const float* row = logits + t * ldl;
    float m = __uint_as_float(0xff800000u);  // -inf
    for (int e = threadIdx.x; e < experts; e += blockDim.x) {
      const float l = row[e];
      s_p[e] = l;
      m = fmaxf(m, l);
    }
    m = block_reduce<true>(m, s_red);
    float sum = 0.0f;
    for (int e = threadIdx.x; e < experts; e += blockDim.x) {
      const float p = expf(__fsub_rn(s_p[e], m));
      s_p[e] = p;
      sum = __fadd_rn(sum, p);
    }
    sum = block_reduce<false>(sum, s_red);  // its barriers also publish s_p
    for (int e = threadIdx.x; e < experts; e += blockDim.x) s_p[e] = __fdiv_rn(s_p[e], sum);
    __syncthreads();
    for (int e = threadIdx.x; e < experts; e += blockDim.x) {
      const float pe = rank_key(s_p[e]);
      int rank = 0;
      for (int a = 0; a < experts; ++a) {
        const float pa = rank_key(s_p[a]);
        rank += (pa > pe) || (pa == pe && a < e);
      }
      if (rank < top_k) s_order[rank] = e;
    }
    __syncthreads();
    if (threadIdx.x < top_k) {
      float top_sum = 0.0f;
      for (int i = 0; i < top_k; ++i) top_sum = __fadd_rn(top_sum, s_p[s_order[i]]);
      for (int i = threadIdx.x; i < top_k; i += blockDim.x) {
        const int e = s_order[i];
        ids[t * top_k + i] = e;
        weights[t * top_k + i] = __fdiv_rn(s_p[e], top_sum);
      }
    }
  }
}

}  // namespace

cudaError_t launch_moe_route(const float* logits, int64_t ldl, int64_t n, int experts, int top_k, int32_t* ids,
                             float* weights, cudaStream_t stream) {
  if (n < 0 || experts < 1 || experts > kMaxExperts || top_k < 1 || top_k > experts || ldl < experts)
    return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  if (logits == nullptr || ids == nullptr || weights == nullptr) return cudaErrorInvalidValue;
  const int threads = experts <= 128 ? 128 : kMaxThreads;
  const long long cap = 65535LL * 16;
  const unsigned grid = static_cast<unsigned>(n < cap ? n : cap);
  moe_route_kernel<<<grid, threads, 0, stream>>>(logits, ldl, n, experts, top_k, ids, weights);
  return launch_status();
}

}  // namespace ql::gpu
