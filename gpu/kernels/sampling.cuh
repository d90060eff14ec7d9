#pragma once
// The next token picked on the GPU (docs/gpu-backend.md, "Sampling"): the same
// token as the CPU reference ql::backend::cpu::sample_row for the same inputs,
// so only its id goes back to the host and a decode step, sampling included,
// is one CUDA graph. Every setting is read on the device from SamplingInputs,
// so one captured graph serves them all.
//
// Order, as the CPU: repetition and presence penalties on the seen tokens,
// then greedy (the first maximum) or temperature, top-k (ties with the k-th
// value stay), top-p (the crossing token stays), min-p, and the draw by the
// cumulative weight in token order. Every sum the CPU takes in a fixed order
// (the draw's, top-p's) is taken on the GPU in that order, or in parallel with
// a rigorous rounding-error bound and, when a partial sum lies within that
// bound of its threshold, again in the CPU's order by one thread.
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace ql::gpu {

// Written by the host into device memory before each step (so one captured
// graph serves every setting).
struct SamplingInputs {
  float temperature;         // <= 0: greedy
  int32_t top_k;             // 0 = off
  float top_p;               // 1 = off
  float min_p;               // 0 = off
  float repetition_penalty;  // 1 = off
  float presence_penalty;    // 0 = off
  double uniform;            // in [0, 1], this step's random draw
};
static_assert(sizeof(SamplingInputs) == 32, "SamplingInputs: same layout for nvcc and the host compiler");

// Device scratch launch_sample needs for a vocabulary of `vocab` tokens
// (about 20 bytes per token plus 1.1 MiB), 256-byte aligned.
size_t sampling_scratch_bytes(int64_t vocab);

// logits fp32 [vocab] (device, read only), params device SamplingInputs, seen
// device int32 [vocab] (nonzero = token already in the sequence; may be null =
// none seen). Picks one token exactly as ql::backend::cpu::sample_row and
// writes it to *token (device int32); then, if seen is not null, sets
// seen[*token] = 1. `scratch`: sampling_scratch_bytes(vocab) bytes, 256-byte
// aligned, contents irrelevant. 1 <= vocab <= about 1M (132 SMs x 8192).
// One memset and one cooperative kernel on `stream`; capturable.
cudaError_t launch_sample(const float* logits, int64_t vocab, const SamplingInputs* params, int32_t* seen,
                          int32_t* token, void* scratch, cudaStream_t stream);

// Sets seen[ids[i]] = 1 for i < n (the prompt's tokens, once per request);
// negative ids are skipped. Clearing is a cudaMemsetAsync by the caller.
cudaError_t launch_mark_seen(const int32_t* ids, int64_t n, int32_t* seen, cudaStream_t stream);

}  // namespace ql::gpu
