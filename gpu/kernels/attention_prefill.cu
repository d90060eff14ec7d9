// Prefill attention (attention_prefill.cuh): the flash kernel of the header
// in causal mode over the bf16 cache; CTA = 4 warps x 16 query rows of one
// head, 64-key tiles through cp.async. head_dim > 128: the fp32 scalar kernel.
#include "gpu/kernels/attention_prefill.cuh"

namespace ql::gpu {

namespace {

using namespace attn;

constexpr int kWarps = 4, kMT = 1, kBN = 64;

template <int HDP>
cudaError_t launch_tc(const FlashArgs& a, int num_seqs, cudaStream_t stream) {
  using Shape = FlashShape<HDP, kMT, kWarps, kBN>;
  const int64_t blocks = int64_t(a.tiles) * num_seqs;
  if (blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(a.heads));
  return launch_with_smem<flash_tc_kernel<HDP, kMT, kWarps, kBN, true, true>>(grid, dim3(Shape::kThreads),
                                                                              Shape::kSmemBf16, stream, a);
}

}  // namespace

cudaError_t launch_attention_prefill(const float* q, int64_t ldq, const void* k_cache, const void* v_cache,
                                     int64_t ld_kv, const SeqSpan* spans, int num_seqs, int64_t total_q,
                                     int max_q_per_seq, int heads, int kv_heads, int head_dim, float scale, float* out,
                                     int64_t ldo, cudaStream_t stream) {
  if (heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 || head_dim < 1 || head_dim > kMaxHeadDim ||
      heads > 65535)
    return cudaErrorInvalidValue;
  if (num_seqs <= 0 || total_q <= 0 || max_q_per_seq <= 0) return cudaGetLastError();  // nothing to do
  if (head_dim <= kMaxTensorHeadDim) {
    FlashArgs a{};
    a.q = q;
    a.ldq = ldq;
    a.k = k_cache;
    a.v = v_cache;
    a.ldkv = ld_kv;
    a.out = out;
    a.ldo = ldo;
    a.spans = spans;
    a.seg = nullptr;
    a.total_rows = total_q;
    a.tiles = (max_q_per_seq + FlashShape<16, kMT, kWarps, kBN>::kBM - 1) / FlashShape<16, kMT, kWarps, kBN>::kBM;
    a.heads = heads;
    a.kv_heads = kv_heads;
    a.hd = head_dim;
    a.qscale = scale * kLog2e;
    a.vec = head_dim % 8 == 0 && ld_kv % 8 == 0 && aligned16(k_cache) && aligned16(v_cache);
    switch (padded_head_dim(head_dim)) {
      case 16: return launch_tc<16>(a, num_seqs, stream);
      case 32: return launch_tc<32>(a, num_seqs, stream);
      case 64: return launch_tc<64>(a, num_seqs, stream);
      case 80: return launch_tc<80>(a, num_seqs, stream);
      default: return launch_tc<128>(a, num_seqs, stream);
    }
  }
  ScalarArgs a{};
  a.q = q;
  a.ldq = ldq;
  a.k = k_cache;
  a.v = v_cache;
  a.ldkv = ld_kv;
  a.out = out;
  a.ldo = ldo;
  a.spans = spans;
  a.seg = nullptr;
  a.total_rows = total_q;
  a.heads = heads;
  a.kv_heads = kv_heads;
  a.hd = head_dim;
  a.qscale = scale * kLog2e;
  if (num_seqs > 65535) return cudaErrorInvalidValue;
  const dim3 grid((max_q_per_seq + kScalarWarps - 1) / kScalarWarps, num_seqs, heads);
  attention_scalar_kernel<true, ScalarMode::kCausal><<<grid, kScalarWarps * 32, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace ql::gpu
