// The text model's tensors in the converter's order (docs/formats.md §4.2).
#include "core/io/gguf/tensor_maps.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <string_view>

#include "core/io/gguf/tensor_map_helpers.h"

namespace ql::io::gguf {
namespace {

constexpr std::string_view kTextPrefix = "model.language_model.";
constexpr std::string_view kVisionPrefix = "model.visual.";

constexpr std::array<Rename, 9> kTextLayerRenames = {{
    {"input_layernorm", "attn_norm"},
    {"post_attention_layernorm", "ffn_norm"},
    {"self_attn.q_proj", "attn_q"},
    {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},
    {"self_attn.q_norm", "attn_q_norm"},
    {"self_attn.k_norm", "attn_k_norm"},
    {"mlp.gate", "ffn_gate_inp"},
}};

Status add_experts(const model::TensorView& v, int64_t layer, std::string_view what,
                   const std::map<std::string, model::ExpertOrientation>& orientation,
                   std::vector<MappedTensor>& out) {
  const auto it = orientation.find(std::string(v.name));
  if (it == orientation.end() || v.shape.size() != 3)
    return err("{}: the orientation of this fused expert tensor is unknown (shape {})", v.name,
               model::format_shape(v.shape));
  const bool in_out = it->second == model::ExpertOrientation::kInOut;
  const int64_t E = v.shape[0];
  auto make = [&](std::string name, SourceLayout layout, std::vector<int64_t> ne, std::string label) {
    MappedTensor t;
    t.name = std::move(name);
    t.ne = std::move(ne);
    t.source.hf_name = std::string(v.name);
    t.source.view = v;
    t.source.layout = layout;
    t.source.orientation = it->second;
    t.source_label = std::string(v.name) + label;
    out.push_back(std::move(t));
  };
  const std::string blk = fmt::format("blk.{}.", layer);
  if (what == "gate_up_proj") {
    // [E, H, 2I] (in_out) or [E, 2I, H] (out_in); both become ne [H, I, E].
    const int64_t H = in_out ? v.shape[1] : v.shape[2];
    const int64_t two_i = in_out ? v.shape[2] : v.shape[1];
    if (two_i % 2 != 0) return err("{}: shape {} cannot be split into gate and up halves", v.name,
                                   model::format_shape(v.shape));
    make(blk + "ffn_gate_exps.weight", SourceLayout::kExpertGate, {H, two_i / 2, E}, " (gate half)");
    make(blk + "ffn_up_exps.weight", SourceLayout::kExpertUp, {H, two_i / 2, E}, " (up half)");
    return {};
  }
  // down: [E, I, H] (in_out) or [E, H, I] (out_in) -> ne [I, H, E]
  const int64_t H = in_out ? v.shape[2] : v.shape[1];
  const int64_t I = in_out ? v.shape[1] : v.shape[2];
  make(blk + "ffn_down_exps.weight", SourceLayout::kExpertDown, {I, H, E}, in_out ? " (transposed)" : "");
  return {};
}

// One tensor of text layer `layer`; false when the converter has no name for it.
Result<bool> map_layer_tensor(const model::TensorView& v, int64_t layer, std::string_view tail,
                              const std::map<std::string, model::ExpertOrientation>& orientation,
                              std::vector<MappedTensor>& out) {
  for (std::string_view what : {"gate_up_proj", "down_proj"}) {
    const std::string fused = "mlp.experts." + std::string(what);
    if (tail == fused || tail == fused + ".weight") {
      QL_TRY(add_experts(v, layer, what, orientation, out));
      return true;
    }
  }
  for (std::string_view dense : {"mlp.gate_proj.", "mlp.up_proj.", "mlp.down_proj."})
    if (tail.starts_with(dense))
      return err("{}: layer {} has a dense MLP (mlp_only_layers); llama.cpp's qwen3vlmoe architecture has MoE "
                 "layers only, and its converter cannot map this tensor",
                 v.name, layer);
  if (auto renamed = rename_with_suffix(tail, kTextLayerRenames)) {
    out.push_back(plain_tensor(v, fmt::format("blk.{}.{}", layer, *renamed)));
    return true;
  }
  return false;
}

}  // namespace

std::vector<model::TensorView> checkpoint_order(const model::Checkpoint& checkpoint) {
  std::vector<const model::SafetensorsFile*> shards;
  for (const auto& s : checkpoint.shards()) shards.push_back(&s);
  std::sort(shards.begin(), shards.end(), [](const auto* a, const auto* b) {
    return std::filesystem::path(a->path()).filename().string() < std::filesystem::path(b->path()).filename().string();
  });
  std::vector<model::TensorView> out;
  for (const auto* s : shards) {
    std::vector<const model::TensorInfo*> infos;
    for (const auto& t : s->tensors()) infos.push_back(&t);
    std::sort(infos.begin(), infos.end(), [](const auto* a, const auto* b) { return a->name < b->name; });
    for (const auto* t : infos) out.push_back(s->view(*t));
  }
  return out;
}

Result<std::vector<MappedTensor>> map_text_tensors(
    const model::Checkpoint& checkpoint, const std::map<std::string, model::ExpertOrientation>& orientation) {
  std::vector<MappedTensor> out;
  for (const model::TensorView& v : checkpoint_order(checkpoint)) {
    const std::string_view name = v.name;
    if (name.starts_with(kVisionPrefix)) continue;
    QL_TRY(check_float(v));
    if (name == "lm_head.weight") {
      out.push_back(plain_tensor(v, "output.weight"));
      continue;
    }
    if (!name.starts_with(kTextPrefix)) return unmapped(name);
    const std::string_view rest = name.substr(kTextPrefix.size());
    if (rest == "embed_tokens.weight") {
      out.push_back(plain_tensor(v, "token_embd.weight"));
      continue;
    }
    if (rest == "norm.weight") {
      out.push_back(plain_tensor(v, "output_norm.weight"));
      continue;
    }
    if (!rest.starts_with("layers.")) return unmapped(name);
    const auto idx = split_index(rest.substr(7));
    if (!idx) return unmapped(name);
    const auto [layer, tail] = *idx;
    auto mapped = map_layer_tensor(v, layer, tail, orientation, out);
    if (!mapped) return mapped.error();
    if (!*mapped) return unmapped(name);
  }
  return out;
}

}  // namespace ql::io::gguf
