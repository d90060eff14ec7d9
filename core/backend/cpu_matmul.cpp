#include "core/backend/cpu_matmul.h"

#include <algorithm>

#include <cblas.h>

#include "core/backend/cpu_matmul_int8.h"
#include "core/backend/cpu_scratch.h"
#include "core/backend/cpu_weight_decode.h"

namespace ql::backend::cpu {

namespace {
// A decoded block of ~256 KiB stays in L2 while OpenBLAS reads it; at least
// 32 rows so that sgemm has a useful width.
constexpr int64_t kBlockFloats = 64 * 1024;
constexpr int64_t kMinBlockRows = 32;
// Below this many multiply-adds a product stays on the calling thread.
constexpr double kMinParallelWork = 1 << 17;
constexpr int64_t kMinWeightRowsPerTask = 32;
constexpr int64_t kMinTokenRowsPerTask = 16;
// Up to this many input rows (a decode batch: one row per sequence) each row
// is multiplied on its own, as a matrix-vector product with its own int8
// outlier columns: a sequence then gets the bits it would get alone, whatever
// else is in its batch (BLAS's matrix-matrix kernels sum in another order).
constexpr int64_t kRowsAlone = 16;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void add_bias(const float* bias, int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t ld, float* out) {
  if (bias == nullptr) return;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) out[r * ld + c] += bias[c];
}

// INT8: the input is quantized once, then the weight rows are split over the
// pool (token rows are not: every task needs all of the quantized input).
void multiply_int8(ThreadPool& pool, const float* x, int64_t n, const CpuWeight& w, const float* bias, float* out,
                   const MatmulSettings& settings) {
  const int64_t big_n = w.rows(), k = w.cols();
  if (n > 1 && n <= kRowsAlone) {
    for (int64_t r = 0; r < n; ++r) multiply_int8(pool, x + r * k, 1, w, bias, out + r * big_n, settings);
    return;
  }
  const quant::QuantizedActivations xq = quantize_int8_input(x, n, k, settings.int8_outlier_threshold);
  const double work = static_cast<double>(n) * static_cast<double>(big_n) * static_cast<double>(k);
  int64_t tasks = 1;
  if (pool.size() > 1 && work >= kMinParallelWork)
    tasks = std::clamp<int64_t>(big_n / kMinWeightRowsPerTask, 1, 4 * pool.size());
  const int64_t chunk = ceil_div(big_n, tasks);
  pool.run(ceil_div(big_n, chunk), [&](int64_t t) {
    const int64_t c0 = t * chunk, c1 = std::min(big_n, c0 + chunk);
    multiply_int8_rows(x, xq, w, c0, c1 - c0, out + c0, big_n);
    add_bias(bias, 0, n, c0, c1, big_n, out);
  });
}

}  // namespace

void multiply_weight_rows(const float* x, int64_t n, const CpuWeight& w, int64_t first, int64_t count, float* out,
                          int64_t ld_out, const MatmulSettings& settings) {
  if (n <= 0 || count <= 0) return;
  const int64_t k = w.cols();
  if (n > 1 && n <= kRowsAlone) {
    for (int64_t r = 0; r < n; ++r) multiply_weight_rows(x + r * k, 1, w, first, count, out + r * ld_out, ld_out, settings);
    return;
  }
  if (w.format() == WeightFormat::kInt8Rowwise) {
    multiply_int8_rows(x, quantize_int8_input(x, n, k, settings.int8_outlier_threshold), w, first, count, out, ld_out);
    return;
  }
  const int64_t block = std::clamp<int64_t>(kBlockFloats / k, kMinBlockRows, count);
  float* scratch = w.format() == WeightFormat::kF32 ? nullptr
                                                    : thread_scratch(Scratch::kWeightBlock, static_cast<size_t>(block * k));
  for (int64_t b0 = 0; b0 < count; b0 += block) {
    const int64_t rows = std::min(block, count - b0);
    const float* wb = rows_as_f32(w, first + b0, rows, scratch);
    // Zero the output first: with beta = 0 BLAS may still scale the old
    // contents, and 0 * NaN (an unwritten buffer) is NaN.
    for (int64_t r = 0; r < n; ++r) std::fill_n(out + r * ld_out + b0, rows, 0.0f);
    if (n == 1) {  // decode: a matrix-vector product, out = Wb . x
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(rows), static_cast<blasint>(k), 1.0f, wb,
                  static_cast<blasint>(k), x, 1, 0.0f, out + b0, 1);
    } else {  // out block = x . Wb^T
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(n), static_cast<blasint>(rows),
                  static_cast<blasint>(k), 1.0f, x, static_cast<blasint>(k), wb, static_cast<blasint>(k), 0.0f,
                  out + b0, static_cast<blasint>(ld_out));
    }
  }
}

void multiply_weight(ThreadPool& pool, const float* x, int64_t n, const CpuWeight& w, const float* bias, float* out,
                     const MatmulSettings& settings) {
  if (n <= 0) return;
  if (w.format() == WeightFormat::kInt8Rowwise) return multiply_int8(pool, x, n, w, bias, out, settings);
  const int64_t big_n = w.rows(), k = w.cols();
  const int threads = pool.size();
  // Split the weight rows first, so each is decoded once per call; split the
  // token rows too only when the weight alone cannot keep every thread busy.
  int64_t col_tasks = 1, row_tasks = 1;
  if (threads > 1 && static_cast<double>(n) * static_cast<double>(big_n) * static_cast<double>(k) >= kMinParallelWork) {
    col_tasks = std::clamp<int64_t>(big_n / kMinWeightRowsPerTask, 1, 4 * threads);
    if (col_tasks < threads) row_tasks = std::clamp<int64_t>(n / kMinTokenRowsPerTask, 1, 4 * threads / col_tasks);
  }
  const int64_t col_chunk = ceil_div(big_n, col_tasks);
  const int64_t row_chunk = ceil_div(n, row_tasks);
  col_tasks = ceil_div(big_n, col_chunk);
  row_tasks = ceil_div(n, row_chunk);
  pool.run(col_tasks * row_tasks, [&](int64_t t) {
    const int64_t c0 = (t % col_tasks) * col_chunk, c1 = std::min(big_n, c0 + col_chunk);
    const int64_t r0 = (t / col_tasks) * row_chunk, r1 = std::min(n, r0 + row_chunk);
    multiply_weight_rows(x + r0 * k, r1 - r0, w, c0, c1 - c0, out + r0 * big_n + c0, big_n, settings);
    add_bias(bias, r0, r1, c0, c1, big_n, out);
  });
}

}  // namespace ql::backend::cpu
