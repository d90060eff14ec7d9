#pragma once
// config.json of a Qwen3-VL-MoE checkpoint as plain structs (docs/model.md §1).
// Both the published spelling and the transformers-5 spelling load to the
// same values (§1.4). Required architecture fields have no fallback: a
// missing one is an error naming the file and the field path.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/result.h"
#include "core/model/bnb_quantization.h"
#include "core/model/dtype.h"

namespace ql::model {

struct TextConfig {
  int64_t hidden_size = 0;
  int64_t num_layers = 0;               // num_hidden_layers
  int64_t num_heads = 0;                // num_attention_heads
  int64_t num_kv_heads = 0;             // num_key_value_heads (default: num_heads)
  int64_t head_dim = 0;                 // default: hidden_size / num_heads
  int64_t vocab_size = 0;
  double rms_norm_eps = 0;
  std::string hidden_act;               // only "silu" is accepted
  bool attention_bias = false;          // q/k/v/o biases
  int64_t num_experts = 0;              // num_experts or num_local_experts
  int64_t num_experts_per_tok = 0;      // top-k
  int64_t moe_intermediate_size = 0;    // per-expert width I
  bool norm_topk_prob = true;           // informational: 5.17 always renormalises (§9.5)
  int64_t intermediate_size = 0;        // dense-MLP width; 0 if absent (required when a layer is dense)
  int64_t decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;
  std::vector<bool> layer_is_moe;       // per layer, derived by the §1.4 rule
  double rope_theta = 0;
  std::string rope_type;                // "default"
  std::array<int64_t, 3> mrope_section{};
  bool mrope_interleaved = true;        // informational: 5.17 always interleaves
  int64_t max_position_embeddings = 0;  // 0 when absent; unused by the default rope

  int64_t num_moe_layers() const;
};

struct VisionConfig {
  int64_t depth = 0;
  int64_t hidden_size = 0;
  int64_t num_heads = 0;                // num_heads or num_attention_heads
  int64_t intermediate_size = 0;
  std::string hidden_act;
  int64_t patch_size = 0;
  int64_t temporal_patch_size = 0;
  int64_t spatial_merge_size = 0;
  int64_t in_channels = 0;
  int64_t num_position_embeddings = 0;  // a square grid side*side
  int64_t out_hidden_size = 0;          // must equal the text hidden size
  std::vector<int64_t> deepstack_visual_indexes;
  double rope_theta = 10000.0;          // rope_parameters.rope_theta, else 10000 (§1.4)

  int64_t head_dim() const { return hidden_size / num_heads; }
  // Width of one merged token before the merger MLP: hidden * merge^2.
  int64_t merged_hidden_size() const { return hidden_size * spatial_merge_size * spatial_merge_size; }
};

struct ModelConfig {
  std::string source;                   // the config.json path, for messages
  std::string model_type;               // "" when absent
  TextConfig text;
  VisionConfig vision;
  int64_t image_token_id = 0;
  int64_t video_token_id = 0;
  int64_t vision_start_token_id = 0;
  int64_t vision_end_token_id = 0;
  bool tie_word_embeddings = false;
  std::optional<DType> dtype;           // dtype / torch_dtype, when declared
  // A bitsandbytes checkpoint (quantization_config): its Linear modules are
  // stored quantized (model/bnb_layout.h); `dtype` is then that of the rest.
  std::optional<BnbQuantization> quantization;
};

// Parses config.json text; `file` names it in errors.
Result<ModelConfig> parse_model_config(std::string_view json_text, const std::string& file);
// Reads DIR/config.json.
Result<ModelConfig> load_model_config(const std::string& dir);

}  // namespace ql::model
