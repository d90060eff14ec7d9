// Segment attention (attention_segments.cuh): the flash kernel of
// attention_prefill.cuh in segment mode with fp32 k/v rounded to bf16 as
// they are staged. CTA = 8 warps x 32 query rows (256 rows: each k/v tile
// is staged once for many rows, halving the L2 traffic of 128-row tiles),
// 32-key tiles, the next tile's float4 loads in flight during the mma.
#include "gpu/kernels/attention_segments.cuh"

#include "gpu/kernels/attention_prefill.cuh"

namespace ql::gpu {

namespace {

using namespace attn;

constexpr int kWarps = 8, kBN = 32;

template <int HDP>
cudaError_t launch_tc(FlashArgs a, int num_segments, int64_t max_segment_len, cudaStream_t stream) {
  constexpr int MT = HDP <= 80 ? 2 : 1;  // register budget: o + q fragments grow with HDP
  using Shape = FlashShape<HDP, MT, kWarps, kBN>;
  const int64_t tiles = (max_segment_len + Shape::kBM - 1) / Shape::kBM;
  const int64_t blocks = tiles * num_segments;
  if (tiles > 0x7fffffffLL || blocks > 0x7fffffffLL) return cudaErrorInvalidValue;
  a.tiles = static_cast<int>(tiles);
  const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(a.heads));
  return launch_with_smem<flash_tc_kernel<HDP, MT, kWarps, kBN, false, false>>(grid, dim3(Shape::kThreads),
                                                                               Shape::kSmemF32, stream, a);
}

}  // namespace

cudaError_t launch_attention_segments(const float* q, const float* k, const float* v, int64_t ld, int64_t N,
                                      const int32_t* seg, int num_segments, int64_t max_segment_len, int heads,
                                      int head_dim, float scale, float* out, int64_t ldo, cudaStream_t stream) {
  if (heads <= 0 || heads > 65535 || head_dim < 1 || head_dim > kMaxHeadDim) return cudaErrorInvalidValue;
  if (N <= 0 || num_segments <= 0 || max_segment_len <= 0) return cudaGetLastError();  // nothing to do
  if (head_dim <= kMaxTensorHeadDim) {
    FlashArgs a{};
    a.q = q;
    a.ldq = ld;
    a.k = k;
    a.v = v;
    a.ldkv = ld;
    a.out = out;
    a.ldo = ldo;
    a.spans = nullptr;
    a.seg = seg;
    a.total_rows = N;
    a.heads = heads;
    a.kv_heads = heads;
    a.hd = head_dim;
    a.qscale = scale * kLog2e;
    a.vec = head_dim % 4 == 0 && ld % 4 == 0 && aligned16(k) && aligned16(v);
    switch (padded_head_dim(head_dim)) {
      case 16: return launch_tc<16>(a, num_segments, max_segment_len, stream);
      case 32: return launch_tc<32>(a, num_segments, max_segment_len, stream);
      case 64: return launch_tc<64>(a, num_segments, max_segment_len, stream);
      case 80: return launch_tc<80>(a, num_segments, max_segment_len, stream);
      default: return launch_tc<128>(a, num_segments, max_segment_len, stream);
    }
  }
  ScalarArgs a{};
  a.q = q;
  a.ldq = ld;
  a.k = k;
  a.v = v;
  a.ldkv = ld;
  a.out = out;
  a.ldo = ldo;
  a.spans = nullptr;
  a.seg = seg;
  a.total_rows = N;
  a.heads = heads;
  a.kv_heads = heads;
  a.hd = head_dim;
  a.qscale = scale * kLog2e;
  const int64_t bx = (max_segment_len + kScalarWarps - 1) / kScalarWarps;
  if (bx > 0x7fffffffLL || num_segments > 65535) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(bx), num_segments, heads);
  attention_scalar_kernel<false, ScalarMode::kSegments><<<grid, kScalarWarps * 32, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace ql::gpu
