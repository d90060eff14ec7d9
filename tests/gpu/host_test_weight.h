#pragma once
// A random weight of any format on the device, with what the CPU references
// need to decode it (the stored values, or core/quant's INT8 / NF4 weights),
// shared by the kernel suites that read weights (matvec, dequantize).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/quant/int8_rowwise.h"
#include "core/quant/nf4.h"
#include "core/quant/source_tensor.h"
#include "tests/gpu/gpu_test_support.h"

namespace ql::gpu::test {

// Fast deterministic fill in [-1, 1) (the timing shapes hold 311M values).
inline void fill_uniform(std::vector<float>& v, uint64_t seed) {
  uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (auto& x : v) {
    s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    x = static_cast<float>(static_cast<double>(z >> 40) * (1.0 / 8388608.0) - 1.0);
  }
}

struct HostTestWeight {
  WFormat format = WFormat::kBF16;
  int64_t rows = 0, cols = 0, stack = 1;            // stored shape
  std::vector<float> rounded;                       // dense: stored values as fp32
  std::vector<quant::Int8RowwiseWeight> int8;      // per matrix
  std::vector<quant::Nf4Weight> nf4;               // per matrix
  TestWeight dev;

  // Stored rows [r, r + count) of matrix m, decoded as core decodes them.
  void rows_of(int64_t m, int64_t r, int64_t count, float* out) const {
    switch (format) {
      case WFormat::kInt8: quant::decode_rows(int8[m], r, count, out); break;
      case WFormat::kNF4: quant::decode_rows(nf4[m], r, count, out); break;
      default: std::memcpy(out, rounded.data() + (m * rows + r) * cols, sizeof(float) * count * cols); break;
    }
  }
};

// `stack` matrices [rows, cols] of uniform values, stored in format f
// (quantized by core/quant for INT8 and NF4) and uploaded.
inline void make_weight(WFormat f, int64_t rows, int64_t cols, int64_t stack, uint64_t seed, HostTestWeight* h) {
  h->format = f;
  h->rows = rows;
  h->cols = cols;
  h->stack = stack;
  std::vector<float> src(static_cast<size_t>(stack * rows * cols));
  fill_uniform(src, seed);
  if (f == WFormat::kInt8 || f == WFormat::kNF4) {
    for (int64_t m = 0; m < stack; ++m) {
      const auto st = quant::SourceTensor::f32("w", src.data() + m * rows * cols, rows, cols);
      if (f == WFormat::kInt8) {
        auto q = quant::quantize_int8_rowwise(st, 0);
        ASSERT_TRUE(q.ok()) << q.message();
        h->int8.push_back(std::move(*q));
      } else {
        auto q = quant::quantize_nf4(st, 0);
        ASSERT_TRUE(q.ok()) << q.message();
        h->nf4.push_back(std::move(*q));
      }
    }
    h->dev = f == WFormat::kInt8 ? upload_int8(h->int8) : upload_nf4(h->nf4);
  } else {
    h->dev = upload_dense(f, src, rows, cols, stack, &h->rounded);
  }
  for (const auto& b : h->dev.buffers) ASSERT_NE(b.get(), nullptr) << "cudaMalloc failed";
}

}  // namespace ql::gpu::test
