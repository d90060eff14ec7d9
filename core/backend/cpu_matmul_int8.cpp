#include "core/backend/cpu_matmul_int8.h"

#include <new>

#include "core/backend/cpu_check.h"
#include "core/backend/cpu_scratch.h"
#include "core/quant/int8_matmul.h"

namespace ql::backend::cpu {

quant::QuantizedActivations quantize_int8_input(const float* x, int64_t n, int64_t cols, float outlier_threshold) {
  try {
    return quant::quantize_activations(x, n, cols, outlier_threshold);
  } catch (const std::bad_alloc&) {
    contract_violation(fmt::format("int8 product: out of memory quantizing an input of [{}, {}]", n, cols));
  }
}

void multiply_int8_rows(const float* x, const quant::QuantizedActivations& xq, const CpuWeight& w, int64_t first,
                        int64_t count, float* out, int64_t ld_out) {
  if (xq.rows <= 0 || count <= 0) return;
  const auto* stored = quant::stored_as<quant::Int8RowwiseWeight>(w.quantized());
  QL_CPU_REQUIRE(stored != nullptr, "{}: an INT8 weight without int8 storage", w.name());
  QL_CPU_REQUIRE(xq.cols == w.cols(), "{}: input of {} columns for {} {}", w.name(), xq.cols, w.name(), shape_of(w));
  float* outlier_weights = thread_scratch(Scratch::kOutlierWeights, xq.outlier_cols.size() + 1);
  quant::int8_matmul_rows(x, xq, *stored, w.first_row() + first, count, out, ld_out, outlier_weights);
}

}  // namespace ql::backend::cpu
