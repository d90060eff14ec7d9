#include "core/quant/decoded_rows_matmul.h"

#include <algorithm>
#include <atomic>
#include <new>
#include <vector>

#include "core/quant/parallel_for.h"

namespace ql::quant {
namespace {

// Rows of W decoded at a time: 8 rows of 2048 fp32 are 64 KiB, which stays in
// L2 while every row of x passes over them.
constexpr int64_t kTileRows = 8;

// Eight independent partial sums let the compiler use SIMD without reordering
// a single sum (which it may not do for floats without -ffast-math).
float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += a[j + k] * b[j + k];
  }
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; j < n; ++j) sum += a[j] * b[j];
  return sum;
}

}  // namespace

Status decoded_rows_matmul(const float* x, int64_t n, int64_t rows, int64_t cols, const RowDecoder& decode,
                           float* y, int threads) {
  if (n <= 0) return {};
  std::atomic<bool> out_of_memory{false};
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
  parallel_for(tiles, threads, static_cast<double>(kTileRows * cols * (n + 4)), [&](int64_t begin, int64_t end) {
    std::vector<float> tile;
    try {
      tile.resize(static_cast<size_t>(kTileRows * cols));
    } catch (const std::bad_alloc&) {
      out_of_memory = true;
      return;
    }
    for (int64_t t = begin; t < end; ++t) {
      const int64_t first = t * kTileRows;
      const int64_t count = std::min(kTileRows, rows - first);
      decode(first, count, tile.data());
      for (int64_t i = 0; i < n; ++i) {
        const float* xi = x + i * cols;
        float* yi = y + i * rows + first;
        for (int64_t r = 0; r < count; ++r) yi[r] = dot(xi, tile.data() + r * cols, cols);
      }
    }
  });
  if (out_of_memory) return internal_err("matmul: out of memory for a tile of {} x {} weights", kTileRows, cols);
  return {};
}

}  // namespace ql::quant
