#pragma once
// Products with INT8 weights the way LLM.int8 computes them (docs/formats.md §7.1),
// not by decoding to fp32: input columns holding any |x| >= the outlier
// threshold are multiplied in fp32, the rest as int8 x int8 with int32 sums.
// The input is quantized once per product (all of its rows together, as
// bitsandbytes does per call), so splitting the weight rows over threads does
// not change the result.
#include <cstdint>

#include "core/backend/cpu_weight.h"
#include "core/quant/int8_activations.h"

namespace ql::backend::cpu {

// x is [n, cols]; aborts when out of memory (ops cannot fail, cpu_check.h).
quant::QuantizedActivations quantize_int8_input(const float* x, int64_t n, int64_t cols, float outlier_threshold);

// On the calling thread: out[r * ld_out + c] = x[r] . W[first + c] for
// r < xq.rows, c < count; w is an INT8 weight, xq = quantize_int8_input(x).
void multiply_int8_rows(const float* x, const quant::QuantizedActivations& xq, const CpuWeight& w, int64_t first,
                        int64_t count, float* out, int64_t ld_out);

}  // namespace ql::backend::cpu
