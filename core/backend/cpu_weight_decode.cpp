#include "core/backend/cpu_weight_decode.h"

#include <cstring>
#include <vector>

#include "core/common/float16.h"

namespace ql::backend::cpu {

namespace {

void decode_bf16(const uint16_t* src, int64_t n, float* out) {
  // bf16 is the top half of an fp32: a shift, which the compiler vectorises.
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(src[i]);
}

// f16_to_f32 branches on subnormals and specials; a table of all 65,536
// values made from it decodes at memory speed with the same results.
const float* f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = f16_to_f32(static_cast<uint16_t>(h));
    return t;
  }();
  return table.data();
}

void decode_f16(const uint16_t* src, int64_t n, float* out) {
  const float* table = f16_table();
  for (int64_t i = 0; i < n; ++i) out[i] = table[src[i]];
}

}  // namespace

void decode_rows(const CpuWeight& w, int64_t first, int64_t count, float* out) {
  if (!is_dense(w.format())) {  // INT8, NF4: the format's own decoder (core/quant)
    w.quantized().decode_rows(w.first_row() + first, count, out);
    return;
  }
  const int64_t n = count * w.cols();
  const std::byte* src = w.row_data(first);
  // upload_cpu_weight guarantees alignment to the element size.
  switch (w.format()) {
    case WeightFormat::kF32:
      std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case WeightFormat::kBF16:
      decode_bf16(reinterpret_cast<const uint16_t*>(src), n, out);
      return;
    case WeightFormat::kF16:
      decode_f16(reinterpret_cast<const uint16_t*>(src), n, out);
      return;
    case WeightFormat::kInt8Rowwise:
    case WeightFormat::kNF4: return;  // handled above
  }
}

const float* rows_as_f32(const CpuWeight& w, int64_t first, int64_t count, float* scratch) {
  if (w.format() == WeightFormat::kF32) return reinterpret_cast<const float*>(w.row_data(first));
  decode_rows(w, first, count, scratch);
  return scratch;
}

}  // namespace ql::backend::cpu
