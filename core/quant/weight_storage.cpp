#include "core/quant/weight_storage.h"

#include <string_view>

#include "core/quant/nf4.h"

namespace ql::quant {
namespace {

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

uint64_t matrix_storage_bytes(QuantFormat format, int64_t rows, int64_t cols) {
  const auto r = static_cast<uint64_t>(rows), n = r * static_cast<uint64_t>(cols);
  switch (format) {
    case QuantFormat::kBF16:
    case QuantFormat::kF16: return 2 * n;
    case QuantFormat::kInt8Rowwise: return n + sizeof(float) * r;
    case QuantFormat::kNf4: {
      const uint64_t blocks = ceil_div(n, kNf4BlockSize);
      const uint64_t nested = ceil_div(blocks, kNf4NestedBlockSize);
      return ceil_div(n, 2) + blocks + sizeof(float) * nested + sizeof(Nf4Weight::quant_map) +
             sizeof(Nf4Weight::nested_quant_map);
    }
  }
  return 0;
}

StorageShape storage_shape(const model::TensorSpec& spec) {
  const auto& s = spec.shape;
  // Fused experts are [E, in, out] in the schema; the loader keeps nn.Linear
  // [out, in] per expert: gate_up [2I, H], down [H, I].
  if (spec.kind != model::TensorKind::kPlain) return {s[0], s[2], s[1]};
  // The vision qkv is split into q, k and v (model_weights.cpp).
  if (ends_with(spec.name, ".attn.qkv.weight")) return {3, s[0] / 3, s[1]};
  if (ends_with(spec.name, ".attn.qkv.bias")) return {3, 1, s[0] / 3};
  if (s.size() == 1) return {1, 1, s[0]};
  int64_t cols = 1;
  for (size_t i = 1; i < s.size(); ++i) cols *= s[i];
  return {1, s[0], cols};
}

uint64_t tensor_storage_bytes(QuantFormat format, const model::TensorSpec& spec) {
  const StorageShape shape = storage_shape(spec);
  return static_cast<uint64_t>(shape.count) * matrix_storage_bytes(format, shape.rows, shape.cols);
}

}  // namespace ql::quant
