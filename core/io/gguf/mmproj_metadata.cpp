#include "core/io/gguf/mmproj_metadata.h"

#include <cmath>
#include <filesystem>

#include "core/io/gguf/hparams.h"
#include "core/io/gguf/text_metadata.h"

namespace ql::io::gguf {
namespace {

namespace fs = std::filesystem;

void merge_into(nlohmann::json& dst, const nlohmann::json& src) {
  for (const auto& [k, v] : src.items()) dst[k] = v;
}

}  // namespace

Result<nlohmann::json> load_preprocessor_config(const std::string& model_dir) {
  nlohmann::json merged = nlohmann::json::object();
  auto pre = read_json_file((fs::path(model_dir) / "preprocessor_config.json").string());
  if (!pre) return pre.error();
  if (*pre && (*pre)->is_object()) {
    nlohmann::json cfg = **pre;
    if (cfg.contains("media_proc_cfg") && cfg["media_proc_cfg"].is_object()) merge_into(cfg, cfg["media_proc_cfg"]);
    merge_into(merged, cfg);
  }
  auto proc = read_json_file((fs::path(model_dir) / "processor_config.json").string());
  if (!proc) return proc.error();
  if (*proc && (*proc)->is_object()) {
    nlohmann::json cfg = **proc;
    if (cfg.contains("image_processor") && cfg["image_processor"].is_object()) merge_into(cfg, cfg["image_processor"]);
    merge_into(merged, cfg);
  }
  return merged;
}

Result<std::vector<GgufKv>> mmproj_metadata(const nlohmann::json& config, const nlohmann::json& preprocessor,
                                            const std::string& model_dir, LlamaFtype ftype) {
  const std::string config_path = (fs::path(model_dir) / "config.json").string();
  const auto vit = config.find("vision_config");
  if (vit == config.end() || !vit->is_object()) return err("{}: vision_config is missing", config_path);
  const Hparams v(*vit);
  const Hparams text = Hparams::text(config);
  std::vector<GgufKv> kvs;
  auto need = [&](std::initializer_list<const char*> keys, const char* what) -> Result<uint32_t> {
    auto x = v.integer(keys);
    if (!x || *x < 0 || *x > 0xffffffffll) return err("{}: vision_config.{} is missing or out of range", config_path, what);
    return static_cast<uint32_t>(*x);
  };

  kvs.push_back({"general.file_type", GgufValue::u32(static_cast<uint32_t>(ftype))});
  kvs.push_back({"clip.has_vision_encoder", GgufValue::boolean(true)});
  const auto n_embd_text = text.integer({"hidden_size", "n_embd"});
  if (!n_embd_text || *n_embd_text <= 0) return err("{}: text_config.hidden_size is missing", config_path);
  kvs.push_back({"clip.vision.projection_dim", GgufValue::u32(static_cast<uint32_t>(*n_embd_text))});

  uint32_t image_size;
  if (auto s = v.integer({"image_size"})) {
    image_size = static_cast<uint32_t>(*s);
  } else {
    // sqrt(position embeddings) patches per side, truncated as Python's int().
    const double n_pos = static_cast<double>(v.integer({"num_position_embeddings"}).value_or(2304));
    const double patch = static_cast<double>(v.integer({"patch_size"}).value_or(16));
    image_size = static_cast<uint32_t>(std::sqrt(n_pos) * patch);
  }
  kvs.push_back({"clip.vision.image_size", GgufValue::u32(image_size)});
  auto patch = need({"patch_size"}, "patch_size");
  if (!patch) return patch.error();
  kvs.push_back({"clip.vision.patch_size", GgufValue::u32(*patch)});
  auto width = need({"hidden_size", "width", "vt_hidden_size"}, "hidden_size");
  if (!width) return width.error();
  kvs.push_back({"clip.vision.embedding_length", GgufValue::u32(*width)});
  auto ff = need({"intermediate_size", "vt_intermediate_size"}, "intermediate_size");
  if (!ff) return ff.error();
  kvs.push_back({"clip.vision.feed_forward_length", GgufValue::u32(*ff)});
  // The converter copies depth into num_hidden_layers and num_heads into num_attention_heads first.
  auto depth = need({"depth", "n_layers", "num_hidden_layers", "n_layer", "num_layers"}, "depth");
  if (!depth) return depth.error();
  kvs.push_back({"clip.vision.block_count", GgufValue::u32(*depth)});
  auto heads = need({"num_heads", "num_attention_heads", "heads"}, "num_heads");
  if (!heads) return heads.error();
  kvs.push_back({"clip.vision.attention.head_count", GgufValue::u32(*heads)});

  for (const char* field : {"image_mean", "image_std"}) {
    const auto it = preprocessor.find(field);
    if (it == preprocessor.end() || !it->is_array() || it->empty())
      return err("{}: {} is missing", (fs::path(model_dir) / "preprocessor_config.json").string(), field);
    std::vector<float> values;
    for (const auto& x : *it) values.push_back(x.is_number() ? static_cast<float>(x.get<double>()) : 0.f);
    kvs.push_back({std::string("clip.vision.") + field, GgufValue::array_f32(values)});
  }

  kvs.push_back({"clip.projector_type", GgufValue::string("qwen3vl_merger")});
  kvs.push_back({"clip.use_gelu", GgufValue::boolean(true)});
  if (auto merge = v.integer({"spatial_merge_size"}))
    kvs.push_back({"clip.vision.spatial_merge_size", GgufValue::u32(static_cast<uint32_t>(*merge))});
  // The vision tower's norm epsilon is taken from the text config (converter's choice).
  double eps = 1e-6;
  if (const auto tc = config.find("text_config"); tc != config.end() && tc->is_object())
    if (const auto e = tc->find("rms_norm_eps"); e != tc->end() && e->is_number()) eps = e->get<double>();
  kvs.push_back({"clip.vision.attention.layer_norm_epsilon", GgufValue::f32(static_cast<float>(eps))});

  std::vector<bool> deepstack(*depth, false);
  if (const auto ds = vit->find("deepstack_visual_indexes"); ds != vit->end() && ds->is_array())
    for (const auto& i : *ds)
      if (i.is_number_integer() && i.get<int64_t>() >= 0 && i.get<int64_t>() < static_cast<int64_t>(*depth))
        deepstack[static_cast<size_t>(i.get<int64_t>())] = true;
  if (!deepstack.empty()) kvs.push_back({"clip.vision.is_deepstack_layers", GgufValue::array_bool(deepstack)});
  kvs.push_back({"general.quantization_version", GgufValue::u32(kQuantizationVersion)});
  return kvs;
}

}  // namespace ql::io::gguf
