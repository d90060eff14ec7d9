#pragma once
// Small pieces the text and vision tensor maps share: a plain (same order,
// reversed shape) GGUF tensor, "N.rest" index parsing, suffix-keeping
// renames, and the errors for tensors that cannot be exported.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/common/result.h"
#include "core/io/gguf/tensor_source.h"

namespace ql::io::gguf {

MappedTensor plain_tensor(const model::TensorView& v, std::string gguf_name);

// "12.rest" -> (12, "rest")
std::optional<std::pair<int64_t, std::string_view>> split_index(std::string_view s);

struct Rename {
  std::string_view hf;    // "self_attn.q_proj"
  std::string_view gguf;  // "attn_q"
};

// "self_attn.q_proj.weight" -> "attn_q.weight" when the stem is listed.
template <size_t N>
std::optional<std::string> rename_with_suffix(std::string_view rest, const std::array<Rename, N>& table) {
  for (std::string_view suffix : {".weight", ".bias"}) {
    if (!rest.ends_with(suffix)) continue;
    const std::string_view stem = rest.substr(0, rest.size() - suffix.size());
    for (const Rename& r : table)
      if (r.hf == stem) return std::string(r.gguf) + std::string(suffix);
  }
  return std::nullopt;
}

// GGUF is made from the 16-bit (or fp32) source, never from a checkpoint
// that is already quantized (bitsandbytes codes are I8/U8).
Status check_float(const model::TensorView& v);
Error unmapped(std::string_view name);

}  // namespace ql::io::gguf
