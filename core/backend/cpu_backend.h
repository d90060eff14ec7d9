#pragma once
// The CPU reference backend: fp32 compute from F32/BF16/F16/INT8/NF4 weights on a small
// thread pool, with OpenBLAS for the matrix products. Every GPU kernel is
// checked against it, so it favours plain, exact math over cleverness.
#include <memory>

#include "core/backend/backend.h"

namespace ql::backend {

struct CpuBackendOptions {
  // Size of the pool including the calling thread (0 = hardware_concurrency()).
  int threads = 0;
  // LLM.int8 products with INT8 weights: input columns with any |x| >= this
  // stay fp32 (bitsandbytes' default llm_int8_threshold); 0 = none.
  float int8_outlier_threshold = 6.0f;
};

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options);
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

}  // namespace ql::backend
