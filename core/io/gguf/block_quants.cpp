#include "core/io/gguf/block_quants.h"

#include <cstring>

#include "core/common/float16.h"
#include "core/quant/parallel_for.h"

namespace ql::io::gguf {
namespace {

using QuantizeFn = void (*)(const float*, uint8_t*, int64_t);
using DequantizeFn = void (*)(const uint8_t*, float*, int64_t);

void quantize_f32(const float* x, uint8_t* y, int64_t k) { std::memcpy(y, x, static_cast<size_t>(k) * 4); }
void dequantize_f32(const uint8_t* x, float* y, int64_t k) { std::memcpy(y, x, static_cast<size_t>(k) * 4); }

void quantize_f16(const float* x, uint8_t* y, int64_t k) {
  for (int64_t i = 0; i < k; ++i) {
    const uint16_t h = f32_to_f16(x[i]);
    std::memcpy(y + 2 * i, &h, 2);
  }
}
void dequantize_f16(const uint8_t* x, float* y, int64_t k) {
  for (int64_t i = 0; i < k; ++i) {
    uint16_t h;
    std::memcpy(&h, x + 2 * i, 2);
    y[i] = f16_to_f32(h);
  }
}

void quantize_bf16(const float* x, uint8_t* y, int64_t k) {
  for (int64_t i = 0; i < k; ++i) {
    const uint16_t h = f32_to_bf16(x[i]);
    std::memcpy(y + 2 * i, &h, 2);
  }
}
void dequantize_bf16(const uint8_t* x, float* y, int64_t k) {
  for (int64_t i = 0; i < k; ++i) {
    uint16_t h;
    std::memcpy(&h, x + 2 * i, 2);
    y[i] = bf16_to_f32(h);
  }
}

struct Codec {
  QuantizeFn quantize;
  DequantizeFn dequantize;
  double work_per_value;  // rough cost, keeps small jobs on one thread
};

const Codec* codec(GgmlType type) {
  static const Codec f32{quantize_f32, dequantize_f32, 1}, f16{quantize_f16, dequantize_f16, 2},
      bf16{quantize_bf16, dequantize_bf16, 2}, q8_0{quantize_q8_0, dequantize_q8_0, 4},
      q4_0{quantize_q4_0, dequantize_q4_0, 4}, q5_0{quantize_q5_0, dequantize_q5_0, 4},
      q5_1{quantize_q5_1, dequantize_q5_1, 4}, q4_k{quantize_q4_k, dequantize_q4_k, 200},
      q5_k{quantize_q5_k, dequantize_q5_k, 150}, q6_k{quantize_q6_k, dequantize_q6_k, 150},
      iq4_nl{quantize_iq4_nl, dequantize_iq4_nl, 150};
  switch (type) {
    case GgmlType::kF32: return &f32;
    case GgmlType::kF16: return &f16;
    case GgmlType::kBF16: return &bf16;
    case GgmlType::kQ8_0: return &q8_0;
    case GgmlType::kQ4_0: return &q4_0;
    case GgmlType::kQ5_0: return &q5_0;
    case GgmlType::kQ5_1: return &q5_1;
    case GgmlType::kQ4_K: return &q4_k;
    case GgmlType::kQ5_K: return &q5_k;
    case GgmlType::kQ6_K: return &q6_k;
    case GgmlType::kIQ4_NL: return &iq4_nl;
    default: return nullptr;
  }
}

}  // namespace

bool can_write_type(GgmlType type) { return codec(type) != nullptr; }
bool can_read_type(GgmlType type) { return codec(type) != nullptr; }

Status quantize_rows(GgmlType type, const float* src, int64_t nrows, int64_t n_per_row, uint8_t* dst, int threads) {
  const Codec* c = codec(type);
  if (!c) return err("writing ggml type {} is not supported", ggml_type_name(type));
  auto row_bytes = ggml_row_bytes(type, n_per_row);
  if (!row_bytes) return row_bytes.error();
  const uint64_t rb = *row_bytes;
  quant::parallel_for(nrows, threads, c->work_per_value * static_cast<double>(n_per_row),
                      [&](int64_t begin, int64_t end) {
                        for (int64_t r = begin; r < end; ++r) c->quantize(src + r * n_per_row, dst + r * rb, n_per_row);
                      });
  return {};
}

Status dequantize_rows(GgmlType type, const uint8_t* src, int64_t nrows, int64_t n_per_row, float* dst,
                       int threads) {
  const Codec* c = codec(type);
  if (!c) return err("reading ggml type {} is not supported", ggml_type_name(type));
  auto row_bytes = ggml_row_bytes(type, n_per_row);
  if (!row_bytes) return row_bytes.error();
  const uint64_t rb = *row_bytes;
  quant::parallel_for(nrows, threads, 2.0 * static_cast<double>(n_per_row), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) c->dequantize(src + r * rb, dst + r * n_per_row, n_per_row);
  });
  return {};
}

}  // namespace ql::io::gguf
