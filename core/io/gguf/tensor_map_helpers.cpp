#include "core/io/gguf/tensor_map_helpers.h"

#include <charconv>

namespace ql::io::gguf {

MappedTensor plain_tensor(const model::TensorView& v, std::string gguf_name) {
  MappedTensor t;
  t.name = std::move(gguf_name);
  t.ne.assign(v.shape.rbegin(), v.shape.rend());
  t.source.hf_name = std::string(v.name);
  t.source.view = v;
  t.source_label = t.source.hf_name;
  return t;
}

std::optional<std::pair<int64_t, std::string_view>> split_index(std::string_view s) {
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + dot, n);
  if (ec != std::errc() || p != s.data() + dot) return std::nullopt;
  return std::make_pair(n, s.substr(dot + 1));
}

Status check_float(const model::TensorView& v) {
  if (model::is_float_dtype(v.dtype)) return {};
  return err("{}: dtype {} cannot be exported to GGUF; export from the 16-bit checkpoint", v.name,
             model::dtype_name(v.dtype));
}

Error unmapped(std::string_view name) {
  return err("{}: llama.cpp's converter has no GGUF name for this tensor (Qwen3-VL-MoE mapping)", name);
}

}  // namespace ql::io::gguf
