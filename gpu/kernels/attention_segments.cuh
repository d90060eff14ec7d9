#pragma once
// Full attention inside segments, for the vision tower (docs/gpu-backend.md,
// "Attention"): each image's patches attend to each other, one launch for all
// the images of a prompt. Numerics as attention_prefill.cuh says: fp32
// softmax; head_dim <= 128 runs on the tensor cores with q (times scale),
// k, v and p rounded to bf16 as mma operands and fp32 accumulation.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace ql::gpu {

// Full (non-causal) attention inside segments: q, k, v fp32 [N, heads*head_dim] (stride ld), heads == kv heads;
// row i attends to the keys of its own segment [seg[j], seg[j+1]) (seg: device int32 [num_segments+1], 0 .. N).
// One launch for all images of a prompt (N up to ~16k rows, segments of up to max_segment_len rows).
// max_segment_len >= every segment's length (it sizes the grid); head_dim in [1, 256]; out must not overlap q, k, v.
// Fast path: head_dim <= 128, head_dim % 4 == 0, ld % 4 == 0, q/k/v 16-byte aligned (else scalar staging;
// head_dim > 128: the fp32 scalar path).
cudaError_t launch_attention_segments(const float* q, const float* k, const float* v, int64_t ld, int64_t N,
                                      const int32_t* seg, int num_segments, int64_t max_segment_len, int heads,
                                      int head_dim, float scale, float* out, int64_t ldo, cudaStream_t stream);

}  // namespace ql::gpu
