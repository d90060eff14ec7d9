#pragma once
// Decode attention (one new token per sequence) over the bf16 KV cache,
// graph-capturable for any key_count (docs/gpu-backend.md, "Attention").
// Numerics as attention_prefill.cuh says: fp32 softmax; head_dim <= 128 runs
// on the tensor cores with q (times scale) and p rounded to bf16.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/attention_prefill.cuh"

namespace ql::gpu {

// The same semantics when every sequence has q_count == 1 (query row s belongs to sequence s, num_seqs rows), for
// decode steps that are captured once in a CUDA graph and replayed: key_count is only known on the device, so the
// grid covers max_keys (the cache capacity) in chunks (flash-decoding: partial softmax stats per chunk in `scratch`,
// then a combine), and chunks past key_count do no work.
// Each CTA reads 128 keys of one KV head once for all the query heads that share it. key_count <= max_keys;
// key_count <= 0 gives zeros. scratch: attention_decode_scratch_bytes(...) bytes of device memory, 256-byte aligned
// (unused, may be null, when head_dim > 128). spans[s].q_start and q_count are not read.
// Fast path: head_dim <= 128, head_dim % 8 == 0, ld_kv % 8 == 0, caches 16-byte aligned (16-byte cp.async rows).
size_t attention_decode_scratch_bytes(int num_seqs, int heads, int head_dim, int64_t max_keys);
cudaError_t launch_attention_decode(const float* q, int64_t ldq, const void* k_cache, const void* v_cache,
                                    int64_t ld_kv, const SeqSpan* spans, int num_seqs, int64_t max_keys, int heads,
                                    int kv_heads, int head_dim, float scale, void* scratch, float* out, int64_t ldo,
                                    cudaStream_t stream);

}  // namespace ql::gpu
