#pragma once
// Products with weight rows, shared by linear() and moe(): decode a block of
// weight rows to fp32 (cpu_weight_decode.h), multiply it with OpenBLAS, next
// block. Every weight format goes through this path except INT8, which takes
// LLM.int8's own product (cpu_matmul_int8.h).
#include <cstdint>

#include "core/backend/cpu_thread_pool.h"
#include "core/backend/cpu_weight.h"

namespace ql::backend::cpu {

// Settings of the products that belong to the backend rather than to a weight.
struct MatmulSettings {
  // LLM.int8: input columns with any |x| >= this are multiplied in fp32
  // (bitsandbytes' llm_int8_threshold); 0 = every column in int8.
  float int8_outlier_threshold = 6.0f;
};

// On the calling thread: out[r * ld_out + c] = x[r] . W[first + c] for r < n,
// c < count. x is [n, w.cols()] row-major.
void multiply_weight_rows(const float* x, int64_t n, const CpuWeight& w, int64_t first, int64_t count, float* out,
                          int64_t ld_out, const MatmulSettings& settings);

// On the pool: out [n, w.rows()] = x . W^T (+ bias, fp32 of length w.rows(), may be null).
void multiply_weight(ThreadPool& pool, const float* x, int64_t n, const CpuWeight& w, const float* bias, float* out,
                     const MatmulSettings& settings);

}  // namespace ql::backend::cpu
