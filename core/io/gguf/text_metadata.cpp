#include "core/io/gguf/text_metadata.h"

#include <fmt/format.h>

#include "core/io/gguf/hparams.h"

namespace ql::io::gguf {
namespace {

std::string key(const char* name) { return fmt::format("{}.{}", kTextArch, name); }

// gguf-py writes Python ints with add_uint32: a negative or huge value would
// make the converter fail, so it is an error here too.
Result<GgufValue> u32(const std::string& path, const char* what, int64_t v) {
  if (v < 0 || v > 0xffffffffll) return err("{}: {} = {} does not fit a GGUF UINT32", path, what, v);
  return GgufValue::u32(static_cast<uint32_t>(v));
}

}  // namespace

Result<std::vector<GgufKv>> text_arch_metadata(const nlohmann::json& config, const std::string& path,
                                               LlamaFtype ftype) {
  const Hparams hp = Hparams::text(config);
  std::vector<GgufKv> kvs;
  auto add_u32 = [&](const std::string& k, std::initializer_list<const char*> keys) -> Status {
    if (auto v = hp.integer(keys)) {
      auto value = u32(path, k.c_str(), *v);
      if (!value) return value.error();
      kvs.push_back({k, std::move(*value)});
    }
    return {};
  };

  const auto blocks = hp.integer({"n_layers", "num_hidden_layers", "n_layer", "num_layers"});
  if (!blocks) return err("{}: text_config.num_hidden_layers is missing", path);
  QL_TRY(add_u32(key("block_count"), {"n_layers", "num_hidden_layers", "n_layer", "num_layers"}));
  QL_TRY(add_u32(key("context_length"), {"max_position_embeddings", "n_ctx", "n_positions", "max_length",
                                          "max_sequence_length", "model_max_length"}));
  QL_TRY(add_u32(key("embedding_length"), {"hidden_size", "n_embd", "dim"}));
  QL_TRY(add_u32(key("feed_forward_length"),
                 {"prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner",
                  "hidden_dim"}));
  QL_TRY(add_u32(key("attention.head_count"), {"num_attention_heads", "n_head", "n_heads"}));
  QL_TRY(add_u32(key("attention.head_count_kv"), {"num_key_value_heads", "n_kv_heads"}));

  // rope_parameters (transformers 5) or rope_scaling (published), with the
  // root rope_theta mirrored into it when absent there.
  nlohmann::json rope = nlohmann::json::object();
  if (const nlohmann::json* r = hp.find({"rope_parameters"}); r && r->is_object()) rope = *r;
  else if (const nlohmann::json* s = hp.find({"rope_scaling"}); s && s->is_object()) rope = *s;
  if (!rope.contains("rope_theta"))
    if (const nlohmann::json* t =
            hp.find({"global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base"}))
      rope["rope_theta"] = *t;
  const nlohmann::json& rope_params = rope.contains("full_attention") ? rope["full_attention"] : rope;
  if (const auto type = rope_params.find("rope_type"); type != rope_params.end() && type->is_string()) {
    const std::string t = type->get<std::string>();
    // "default" writes nothing; the scaled kinds would add keys this model never needs.
    if (t != "default" && t != "mrope")
      return err("{}: rope_type '{}' is not supported by the GGUF export (Qwen3-VL uses 'default')", path, t);
  }
  if (const auto sec = rope.find("mrope_section"); sec != rope.end() && sec->is_array()) {
    std::vector<int32_t> sections;
    for (const auto& s : *sec) sections.push_back(s.is_number() ? s.get<int32_t>() : 0);
    while (sections.size() < 4) sections.push_back(0);
    sections.resize(4);
    kvs.push_back({key("rope.dimension_sections"), GgufValue::array_i32(sections)});
  }
  if (const auto theta = rope_params.find("rope_theta"); theta != rope_params.end() && theta->is_number())
    kvs.push_back({key("rope.freq_base"), GgufValue::f32(static_cast<float>(theta->get<double>()))});
  if (auto eps = hp.number({"rms_norm_eps", "norm_eps"}))
    kvs.push_back({key("attention.layer_norm_rms_epsilon"), GgufValue::f32(static_cast<float>(*eps))});
  if (auto eps = hp.number({"layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"}))
    kvs.push_back({key("attention.layer_norm_epsilon"), GgufValue::f32(static_cast<float>(*eps))});
  QL_TRY(add_u32(key("expert_count"), {"num_local_experts", "num_experts", "n_routed_experts"}));
  QL_TRY(add_u32(key("expert_used_count"), {"num_experts_per_tok", "num_experts_per_token", "top_k_experts"}));
  if (hp.find({"head_dim"})) {  // only an explicit head_dim; llama.cpp's default n_embd/n_head is wrong here
    QL_TRY(add_u32(key("attention.key_length"), {"head_dim"}));
    QL_TRY(add_u32(key("attention.value_length"), {"head_dim"}));
  }
  kvs.push_back({"general.file_type", GgufValue::u32(static_cast<uint32_t>(ftype))});
  QL_TRY(add_u32(key("expert_feed_forward_length"), {"moe_intermediate_size"}));
  QL_TRY(add_u32(key("expert_shared_feed_forward_length"), {"shared_expert_intermediate_size"}));

  size_t deepstack = 0;
  if (const nlohmann::json* vision = hp.find({"vision_config"}); vision && vision->is_object())
    if (const auto ds = vision->find("deepstack_visual_indexes"); ds != vision->end() && ds->is_array())
      deepstack = ds->size();
  kvs.push_back({key("n_deepstack_layers"), GgufValue::u32(static_cast<uint32_t>(deepstack))});
  kvs.push_back({"general.quantization_version", GgufValue::u32(kQuantizationVersion)});
  return kvs;
}

}  // namespace ql::io::gguf
