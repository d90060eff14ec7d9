// The synthetic checkpoints' configurations (docs/synthetic-models.md): the
// published Qwen3-VL-30B-A3B config.json (resources/qwen3-vl-30b-a3b/), a
// 12-layer cut of it, and the demo model's tiny dimensions.
#include "core/model/synthetic_models.h"

#include <nlohmann/json.hpp>

namespace ql::model {
namespace {

// resources/qwen3-vl-30b-a3b/config.json, compacted.
constexpr const char* kPublishedConfig =
    "{\"architectures\":[\"Qwen3VLMoeForConditionalGeneration\"],\"image_token_id\":151655,\"model_type\":\"qwen3_"
    "vl_moe\",\"text_config\":{\"attention_bias\":false,\"attention_dropout\":0.0,\"bos_token_id\":151643,\"decoder"
    "_sparse_step\":1,\"dtype\":\"bfloat16\",\"eos_token_id\":151645,\"head_dim\":128,\"hidden_act\":\"silu\",\"hidden_"
    "size\":2048,\"initializer_range\":0.02,\"intermediate_size\":6144,\"max_position_embeddings\":262144,\"mlp_o"
    "nly_layers\":[],\"model_type\":\"qwen3_vl_moe_text\",\"moe_intermediate_size\":768,\"norm_topk_prob\":true,\"n"
    "um_attention_heads\":32,\"num_experts\":128,\"num_experts_per_tok\":8,\"num_hidden_layers\":48,\"num_key_val"
    "ue_heads\":4,\"rms_norm_eps\":1e-06,\"rope_scaling\":{\"mrope_interleaved\":true,\"mrope_section\":[24,20,20]"
    ",\"rope_type\":\"default\"},\"rope_theta\":5000000,\"use_cache\":true,\"vocab_size\":151936},\"tie_word_embeddi"
    "ngs\":false,\"video_token_id\":151656,\"vision_config\":{\"deepstack_visual_indexes\":[8,16,24],\"depth\":27,"
    "\"hidden_act\":\"gelu_pytorch_tanh\",\"hidden_size\":1152,\"in_channels\":3,\"initializer_range\":0.02,\"interm"
    "ediate_size\":4304,\"model_type\":\"qwen3_vl_moe\",\"num_heads\":16,\"num_position_embeddings\":2304,\"out_hid"
    "den_size\":2048,\"patch_size\":16,\"spatial_merge_size\":2,\"temporal_patch_size\":2},\"vision_end_token_id\""
    ":151653,\"vision_start_token_id\":151652}";

// resources/demo-model/config.json, compacted.
constexpr const char* kTinyConfig =
    "{\"architectures\":[\"Qwen3VLMoeForConditionalGeneration\"],\"model_type\":\"qwen3_vl_moe\",\"image_token_id\""
    ":151655,\"video_token_id\":151656,\"vision_start_token_id\":151652,\"vision_end_token_id\":151653,\"tie_wor"
    "d_embeddings\":false,\"text_config\":{\"model_type\":\"qwen3_vl_moe_text\",\"vocab_size\":151936,\"hidden_size"
    "\":24,\"num_hidden_layers\":4,\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":16,\"intermedia"
    "te_size\":64,\"moe_intermediate_size\":20,\"num_experts\":8,\"num_experts_per_tok\":2,\"norm_topk_prob\":true"
    ",\"decoder_sparse_step\":1,\"mlp_only_layers\":[],\"hidden_act\":\"silu\",\"rms_norm_eps\":1e-06,\"attention_bi"
    "as\":false,\"attention_dropout\":0.0,\"max_position_embeddings\":32768,\"rope_theta\":5000000,\"rope_scaling"
    "\":{\"mrope_interleaved\":true,\"mrope_section\":[4,2,2],\"rope_type\":\"default\"},\"bos_token_id\":151643,\"eo"
    "s_token_id\":151645,\"dtype\":\"bfloat16\",\"tie_word_embeddings\":false,\"use_cache\":true,\"initializer_rang"
    "e\":0.02},\"vision_config\":{\"depth\":3,\"hidden_size\":32,\"num_heads\":2,\"intermediate_size\":48,\"hidden_ac"
    "t\":\"gelu_pytorch_tanh\",\"patch_size\":16,\"temporal_patch_size\":2,\"spatial_merge_size\":2,\"in_channels\":"
    "3,\"out_hidden_size\":24,\"num_position_embeddings\":64,\"deepstack_visual_indexes\":[0,1],\"initializer_ra"
    "nge\":0.02,\"model_type\":\"qwen3_vl_moe\"}}";

Result<ModelConfig> with_layers(const char* json_text, int64_t layers, const std::string& label) {
  nlohmann::json j = nlohmann::json::parse(json_text);
  if (layers > 0) j["text_config"]["num_hidden_layers"] = layers;
  return parse_model_config(j.dump(), label);
}

}  // namespace

std::string synthetic_model_names() { return "qwen3-vl-30b-a3b, qwen3-vl-30b-a3b-l12, tiny"; }

bool is_synthetic_model(std::string_view model) { return model.starts_with(kSyntheticPrefix); }

Result<ModelConfig> synthetic_model_config(std::string_view model) {
  const std::string label(model);
  if (!is_synthetic_model(model)) return err("{}: not a synthetic model name", label);
  const std::string_view name = model.substr(std::string_view(kSyntheticPrefix).size());
  if (name == "qwen3-vl-30b-a3b") return with_layers(kPublishedConfig, 0, label);
  if (name == "qwen3-vl-30b-a3b-l12") return with_layers(kPublishedConfig, 12, label);
  if (name == "tiny") return with_layers(kTinyConfig, 0, label);
  return err("{}: unknown synthetic model (known: {})", label, synthetic_model_names());
}

}  // namespace ql::model
