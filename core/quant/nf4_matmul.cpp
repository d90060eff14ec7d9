#include "core/quant/nf4_matmul.h"

#include "core/quant/decoded_rows_matmul.h"

namespace ql::quant {

Status nf4_matmul(const float* x, int64_t n, const Nf4Weight& w, float* y, int threads) {
  const RowDecoder decode = [&w](int64_t first, int64_t rows, float* out) { decode_rows(w, first, rows, out); };
  return decoded_rows_matmul(x, n, w.rows, w.cols, decode, y, threads);
}

}  // namespace ql::quant
