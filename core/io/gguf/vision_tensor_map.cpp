// The vision tower's tensors for the mmproj file (docs/formats.md §5.2).
#include "core/io/gguf/tensor_maps.h"

#include <array>
#include <string_view>

#include "core/io/gguf/tensor_map_helpers.h"

namespace ql::io::gguf {
namespace {

constexpr std::string_view kVisionPrefix = "model.visual.";

constexpr std::array<Rename, 6> kVisionBlockRenames = {{
    {"norm1", "ln1"},
    {"norm2", "ln2"},
    {"attn.qkv", "attn_qkv"},
    {"attn.proj", "attn_out"},
    {"mlp.linear_fc1", "ffn_up"},
    {"mlp.linear_fc2", "ffn_down"},
}};

}  // namespace

Result<std::vector<MappedTensor>> map_vision_tensors(const model::Checkpoint& checkpoint,
                                                     const model::VisionConfig& vision) {
  std::vector<MappedTensor> out;
  for (const model::TensorView& v : checkpoint_order(checkpoint)) {
    const std::string_view name = v.name;
    if (!name.starts_with(kVisionPrefix)) continue;
    QL_TRY(check_float(v));
    const std::string_view rest = name.substr(kVisionPrefix.size());
    if (rest == "patch_embed.proj.weight") {
      if (v.shape.size() != 5 || v.shape[2] != 2)
        return err("{}: shape {}: llama.cpp's mmproj takes a temporal patch size of 2 only", name,
                   model::format_shape(v.shape));
      for (int frame = 0; frame < 2; ++frame) {
        MappedTensor t;
        t.name = frame == 0 ? "v.patch_embd.weight" : "v.patch_embd.weight.1";
        t.ne = {v.shape[4], v.shape[3], v.shape[1], v.shape[0]};
        t.source.hf_name = std::string(name);
        t.source.view = v;
        t.source.layout = SourceLayout::kPatchFrame;
        t.source.frame = frame;
        t.source_label = fmt::format("{} (frame {})", name, frame);
        out.push_back(std::move(t));
      }
      continue;
    }
    if (rest == "patch_embed.proj.bias") {
      out.push_back(plain_tensor(v, "v.patch_embd.bias"));
      continue;
    }
    if (rest == "pos_embed.weight") {
      out.push_back(plain_tensor(v, "v.position_embd.weight"));
      continue;
    }
    if (rest.starts_with("blocks.")) {
      const auto idx = split_index(rest.substr(7));
      if (idx)
        if (auto renamed = rename_with_suffix(idx->second, kVisionBlockRenames)) {
          out.push_back(plain_tensor(v, fmt::format("v.blk.{}.{}", idx->first, *renamed)));
          continue;
        }
      return unmapped(name);
    }
    if (rest.starts_with("merger.")) {
      const std::string_view tail = rest.substr(7);
      static constexpr std::array<Rename, 3> kMerger = {{
          {"norm", "v.post_ln"}, {"linear_fc1", "mm.0"}, {"linear_fc2", "mm.2"}}};
      if (auto renamed = rename_with_suffix(tail, kMerger)) {
        out.push_back(plain_tensor(v, *renamed));
        continue;
      }
      return unmapped(name);
    }
    if (rest.starts_with("deepstack_merger_list.")) {
      const auto idx = split_index(rest.substr(22));
      static constexpr std::array<Rename, 3> kDeepstack = {{{"norm", "norm"}, {"linear_fc1", "fc1"}, {"linear_fc2", "fc2"}}};
      if (idx && idx->first >= 0 && static_cast<size_t>(idx->first) < vision.deepstack_visual_indexes.size())
        if (auto renamed = rename_with_suffix(idx->second, kDeepstack)) {
          const int64_t block = vision.deepstack_visual_indexes[static_cast<size_t>(idx->first)];
          out.push_back(plain_tensor(v, fmt::format("v.deepstack.{}.{}", block, *renamed)));
          continue;
        }
      return unmapped(name);
    }
    return unmapped(name);
  }
  return out;
}

}  // namespace ql::io::gguf
