#pragma once
// The one place that turns stored weight rows into fp32, per format. Every op
// that reads a weight goes through here, so a new format needs only a new
// case below to work in every op. (linear and moe multiply INT8 weights with
// LLM.int8's own product instead: cpu_matmul_int8.h.)
#include <cstdint>

#include "core/backend/cpu_weight.h"

namespace ql::backend::cpu {

// Writes rows [first, first + count) of w as fp32, row-major [count, w.cols()].
void decode_rows(const CpuWeight& w, int64_t first, int64_t count, float* out);

// The same rows as fp32: F32 weights are read in place (no copy), other
// formats are decoded into `scratch` (room for count * w.cols() floats).
const float* rows_as_f32(const CpuWeight& w, int64_t first, int64_t count, float* scratch);

}  // namespace ql::backend::cpu
