#pragma once
// fp32 rows to GGUF tensor bytes and back, for every type the exporter
// writes: F32, F16, BF16 and ggml's block formats Q8_0, Q4_0, Q5_0, Q5_1,
// Q4_K, Q5_K, Q6_K and IQ4_NL (docs/formats.md §3). The quantizers reproduce
// ggml's reference quantizers without an importance matrix bit for bit
// (quantize_row_*_ref / quantize_iq4_nl, what llama-quantize and the
// converter run), so the files equal llama.cpp's own.
#include <cstdint>

#include "core/common/result.h"
#include "core/io/gguf/ggml_types.h"

namespace ql::io::gguf {

bool can_write_type(GgmlType type);  // quantize_rows supports it
bool can_read_type(GgmlType type);   // dequantize_rows supports it

// Rows are independent (no block crosses a row), so `threads` share the rows
// and the bytes do not depend on the thread count. Errors: an unsupported
// type, or a row length that is not whole blocks.
Status quantize_rows(GgmlType type, const float* src, int64_t nrows, int64_t n_per_row, uint8_t* dst,
                     int threads = 1);
Status dequantize_rows(GgmlType type, const uint8_t* src, int64_t nrows, int64_t n_per_row, float* dst,
                       int threads = 1);

// One format each: k values (a whole number of blocks) <-> bytes.
void quantize_q8_0(const float* x, uint8_t* y, int64_t k);
void dequantize_q8_0(const uint8_t* x, float* y, int64_t k);
void quantize_q4_0(const float* x, uint8_t* y, int64_t k);
void dequantize_q4_0(const uint8_t* x, float* y, int64_t k);
void quantize_q5_0(const float* x, uint8_t* y, int64_t k);
void dequantize_q5_0(const uint8_t* x, float* y, int64_t k);
void quantize_q5_1(const float* x, uint8_t* y, int64_t k);
void dequantize_q5_1(const uint8_t* x, float* y, int64_t k);
void quantize_q4_k(const float* x, uint8_t* y, int64_t k);
void dequantize_q4_k(const uint8_t* x, float* y, int64_t k);
void quantize_q5_k(const float* x, uint8_t* y, int64_t k);
void dequantize_q5_k(const uint8_t* x, float* y, int64_t k);
void quantize_q6_k(const float* x, uint8_t* y, int64_t k);
void dequantize_q6_k(const uint8_t* x, float* y, int64_t k);
void quantize_iq4_nl(const float* x, uint8_t* y, int64_t k);
void dequantize_iq4_nl(const uint8_t* x, float* y, int64_t k);

// IQ4_NL's 16 levels (docs/formats.md §3.8).
inline constexpr int8_t kIq4NlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace ql::io::gguf
