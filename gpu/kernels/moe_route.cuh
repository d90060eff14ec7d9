#pragma once
// MoE routing on the GPU, as core/backend/cpu_moe.cpp's route_token
// (docs/gpu-backend.md, "MoE"): per token, probabilities softmax(logits) in
// fp32 (max subtracted, expf), the top_k largest in descending order (ties:
// lower expert index first, as torch.topk on CPU), and their weights divided
// by the fp32 sum of the chosen probabilities, summed in top-k order.
#include <cstdint>

#include <cuda_runtime.h>

namespace ql::gpu {

// logits fp32 [n, experts] (row stride ldl) -> ids int32 [n, top_k], weights fp32 [n, top_k] (highest first).
// experts <= 1024 (real model 128), top_k <= experts (real 8). Any n (decode n is 1..16, prefill up to thousands).
// One block per token; deterministic (fixed reduction order, no atomics). A NaN probability ranks below
// every number, so every slot is written whatever the logits hold.
cudaError_t launch_moe_route(const float* logits, int64_t ldl, int64_t n, int experts, int top_k, int32_t* ids,
                             float* weights, cudaStream_t stream);

}  // namespace ql::gpu
