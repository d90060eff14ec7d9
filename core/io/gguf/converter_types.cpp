#include "core/io/gguf/converter_types.h"

#include <regex>

namespace ql::io::gguf {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) { return s.ends_with(suffix); }

// blk.N.ffn_gate_inp.weight: the router, which llama.cpp computes in F32.
bool is_router(const std::string& name) {
  static const std::regex kRouter(R"(blk\.\d+\.ffn_gate_inp\.weight)");
  return std::regex_match(name, kRouter);
}

}  // namespace

GgmlType converter_tensor_type(const std::string& name, const std::vector<int64_t>& ne, GgmlType outtype,
                               bool mmproj) {
  // Forced first (tensor_force_quant), so the 1-D rule below cannot undo it.
  if (mmproj && (name.find(".patch_embd.weight") != std::string::npos ||
                 name.find(".patch_merger.weight") != std::string::npos))
    return ne.size() <= 1 ? GgmlType::kF32 : (outtype == GgmlType::kF16 ? GgmlType::kF16 : GgmlType::kF32);
  if (ne.size() <= 1 || ends_with(name, "_norm.weight")) return GgmlType::kF32;
  if (is_router(name) || name == "position_embd.weight" || name == "token_types.weight" ||
      name == "v.position_embd.weight" || !ends_with(name, ".weight"))
    return GgmlType::kF32;
  if (outtype == GgmlType::kQ8_0 && ne[0] % 32 != 0) return GgmlType::kF16;  // gguf-py's QuantError fallback
  return outtype;
}

}  // namespace ql::io::gguf
