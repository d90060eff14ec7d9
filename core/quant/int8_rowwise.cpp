#include "core/quant/int8_rowwise.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <new>

#include "core/common/float16.h"
#include "core/quant/parallel_for.h"
#include "core/quant/round_half_even.h"

namespace ql::quant {
namespace {

// fp16 turns anything at or above 65520 into infinity (round to nearest even).
constexpr float kF16OverflowThreshold = 65520.0f;

// Lowers `slot` to `index` if smaller: threads race to report the first bad element.
void keep_smallest(std::atomic<int64_t>& slot, int64_t index) {
  int64_t cur = slot.load();
  while (index < cur && !slot.compare_exchange_weak(cur, index)) {
  }
}

// One row: codes and SCB from the row's fp32 source values. Returns the
// column of the first value beyond fp16's range (nothing written), or -1.
int64_t quantize_row(float* row, int64_t cols, int8_t* codes, float* scb) {
  for (int64_t c = 0; c < cols; ++c) {
    if (std::fabs(row[c]) >= kF16OverflowThreshold) return c;
  }
  float absmax = 0.0f;
  for (int64_t c = 0; c < cols; ++c) {
    row[c] = f16_to_f32(f32_to_f16(row[c]));  // W16: the values bitsandbytes quantizes
    absmax = std::max(absmax, std::fabs(row[c]));
  }
  *scb = absmax;
  if (absmax == 0.0f) {
    for (int64_t c = 0; c < cols; ++c) codes[c] = 0;
    return -1;
  }
  // fp32 product with fp32(127 / SCB), as the CPU reference `A * (127 / row_stats)`,
  // rounded half to even. |result| <= 127.
  const float scale = 127.0f / absmax;
  for (int64_t c = 0; c < cols; ++c) codes[c] = static_cast<int8_t>(round_half_even(row[c] * scale));
  return -1;
}

}  // namespace

Result<Int8RowwiseWeight> quantize_int8_rowwise(const SourceTensor& src, int threads) {
  QL_TRY(validate_source(src));
  Int8RowwiseWeight w;
  w.rows = src.rows;
  w.cols = src.cols;
  w.source_dtype = src.dtype;
  std::atomic<bool> out_of_memory{false};
  std::atomic<int64_t> first_overflow{src.numel()};
  try {
    w.codes.resize(static_cast<size_t>(src.numel()));
    w.scb.resize(static_cast<size_t>(src.rows));
    parallel_for(src.rows, threads, src.cols * 4.0, [&](int64_t begin, int64_t end) {
      std::vector<float> row;
      try {
        row.resize(static_cast<size_t>(src.cols));
      } catch (const std::bad_alloc&) {
        out_of_memory = true;
        return;
      }
      for (int64_t r = begin; r < end; ++r) {
        src.read_f32(r * src.cols, src.cols, row.data());
        const int64_t bad_col = quantize_row(row.data(), src.cols, w.codes.data() + r * src.cols, &w.scb[r]);
        if (bad_col >= 0) {
          keep_smallest(first_overflow, r * src.cols + bad_col);
          return;
        }
      }
    });
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
  }
  if (out_of_memory) return internal_err("{}: out of memory quantizing {} values to int8", src.name, src.numel());
  if (const int64_t bad = first_overflow.load(); bad < src.numel()) {
    float v = 0;
    src.read_f32(bad, 1, &v);
    return err("{}: element {} (row {}, col {}) = {} is beyond fp16's range (65504); LLM.int8 "
               "casts weights to fp16 before quantizing", src.name, bad, bad / src.cols, bad % src.cols, v);
  }
  return w;
}

void decode_rows(const Int8RowwiseWeight& w, int64_t first_row, int64_t rows, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* codes = w.codes.data() + (first_row + r) * w.cols;
    const float scb = w.scb[first_row + r];
    float* dst = out + r * w.cols;
    // (CB * SCB) first, then * fp32(1/127): bitsandbytes' order (see kInv127).
    for (int64_t c = 0; c < w.cols; ++c) dst[c] = (static_cast<float>(codes[c]) * scb) * kInv127;
  }
}

}  // namespace ql::quant
