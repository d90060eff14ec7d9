#pragma once
// Decode-time MoE expert products (docs/gpu-backend.md, "MoE"): for a few
// tokens, only the selected experts' weights are read, in their stored format
// (device_weight.h), straight from the stacked expert weights. The expert id
// of each (token, slot) is read on the device, so the launches are graph
// capturable. Products are those of core/backend/cpu_moe.cpp; INT8 uses
// LLM.int8's formula of core/quant/int8_matmul.cpp:
//   y[i, o] = float(acc_int32(xq[i, :] . CB[o, :])) * ((absmax[i] * scb[o]) * (1/127^2))
//           + sum over row i's outlier columns c, ascending, of x[i, c] * ((CB[o, c] * scb[o]) * (1/127))
// (each product and sum rounded to fp32 separately).
//
// Fast paths (16-byte weight loads dequantized in registers) need: cols % 64 == 0, 16-byte aligned
// weight arrays (NF4: packed_stride % 16 == 0), 16-byte aligned x / act rows (x: ldx % 4 == 0;
// INT8: the code rows), INT8 cols <= 65536, and for launch_moe_down n * top_k * 8 floats of
// shared memory within 48 KiB. Anything else takes a simple per-element path with the same results
// up to fp32 summation order (INT8: bit for bit the same formula).
#include <cstdint>

#include <cuda_runtime.h>

#include "gpu/kernels/device_weight.h"
#include "gpu/kernels/int8_activations.cuh"

namespace ql::gpu {

constexpr int kMoeDecodeMaxTokens = 16;

// gate_up: stacked weight (stack = experts, rows = 2*I, cols = H; rows [0, I) gate, [I, 2I) up) in any format.
// For t < n, s < top_k, j < I: act[(t*top_k + s), j] = silu(G_e[j] . x[t]) * (U_e[j] . x[t]), e = ids[t*top_k + s]
// (act fp32 [n*top_k, I], contiguous). n in [1, kMoeDecodeMaxTokens].
// silu(g) * u is computed as g / (1 + expf(-g)) * u in fp32, as the CPU. An id outside [0, experts) is clamped.
// INT8 weights: xq must be the LLM.int8 quantization of x with OutlierMode::kPerRow (each token row its own outlier
// columns; xq->rows >= n, xq->cols == H); other formats: xq null (ignored).
cudaError_t launch_moe_gate_up(const DeviceWeight& gate_up, const float* x, int64_t ldx, int64_t n,
                               const int32_t* ids, int top_k, const Int8Activations* xq, float* act,
                               cudaStream_t stream);

// down: stacked weight (stack = experts, rows = H, cols = I). For t < n, o < H:
//   out[t, o] = (accumulate ? out[t, o] : 0) + sum_{s < top_k, in order} weights[t*top_k+s] * (D_e[o] . act[t*top_k+s])
// fp32 throughout (the slot sum starts at 0, each product and sum rounded separately; then the old value is
// added); one kernel, no atomics: each output element is owned by one thread that sums the slots in order.
// act fp32 [n*top_k, I] contiguous. n in [1, kMoeDecodeMaxTokens].
// INT8 weights: actq = LLM.int8 quantization of act (all n*top_k rows) with OutlierMode::kPerRow.
cudaError_t launch_moe_down(const DeviceWeight& down, const float* act, int64_t n, const int32_t* ids,
                            const float* weights, int top_k, const Int8Activations* actq, float* out, int64_t ldo,
                            bool accumulate, cudaStream_t stream);

}  // namespace ql::gpu
