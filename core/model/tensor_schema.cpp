#include "core/model/tensor_schema.h"

#include <fmt/format.h>

namespace ql::model {

std::string_view component_name(Component c) {
  switch (c) {
    case Component::kVision: return "vision";
    case Component::kAttention: return "attention";
    case Component::kRouter: return "router";
    case Component::kExperts: return "experts";
    case Component::kDenseMlp: return "dense_mlp";
    case Component::kTextNorms: return "text_norms";
    case Component::kEmbeddings: return "embeddings";
    case Component::kLmHead: return "lm_head";
  }
  return "?";
}

namespace {

class SchemaBuilder {
 public:
  explicit SchemaBuilder(std::vector<TensorSpec>& out) : out_(out) {}

  void add(std::string name, std::vector<int64_t> shape, Component c, TensorKind kind = TensorKind::kPlain,
           bool optional = false) {
    out_.push_back(TensorSpec{std::move(name), std::move(shape), c, kind, optional});
  }
  // nn.Linear: weight [out, in], optional bias [out].
  void linear(const std::string& prefix, int64_t out, int64_t in, bool bias, Component c) {
    add(prefix + ".weight", {out, in}, c);
    if (bias) add(prefix + ".bias", {out}, c);
  }
  // LayerNorm: weight and bias [n].
  void layer_norm(const std::string& prefix, int64_t n, Component c) {
    add(prefix + ".weight", {n}, c);
    add(prefix + ".bias", {n}, c);
  }

 private:
  std::vector<TensorSpec>& out_;
};

void add_text_layer(SchemaBuilder& b, const TextConfig& t, int64_t l) {
  const std::string p = fmt::format("model.language_model.layers.{}", l);
  const int64_t H = t.hidden_size, q_out = t.num_heads * t.head_dim, kv_out = t.num_kv_heads * t.head_dim;
  b.add(p + ".input_layernorm.weight", {H}, Component::kTextNorms);
  b.linear(p + ".self_attn.q_proj", q_out, H, t.attention_bias, Component::kAttention);
  b.linear(p + ".self_attn.k_proj", kv_out, H, t.attention_bias, Component::kAttention);
  b.linear(p + ".self_attn.v_proj", kv_out, H, t.attention_bias, Component::kAttention);
  b.linear(p + ".self_attn.o_proj", H, q_out, t.attention_bias, Component::kAttention);
  b.add(p + ".self_attn.q_norm.weight", {t.head_dim}, Component::kAttention);
  b.add(p + ".self_attn.k_norm.weight", {t.head_dim}, Component::kAttention);
  b.add(p + ".post_attention_layernorm.weight", {H}, Component::kTextNorms);
  if (t.layer_is_moe[static_cast<size_t>(l)]) {
    const int64_t E = t.num_experts, I = t.moe_intermediate_size;
    b.add(p + ".mlp.gate.weight", {E, H}, Component::kRouter);  // router, no bias
    // Fused experts have no ".weight" suffix (docs/model.md §2).
    b.add(p + ".mlp.experts.gate_up_proj", {E, H, 2 * I}, Component::kExperts, TensorKind::kExpertGateUp);
    b.add(p + ".mlp.experts.down_proj", {E, I, H}, Component::kExperts, TensorKind::kExpertDown);
  } else {
    const int64_t I = t.intermediate_size;
    b.linear(p + ".mlp.gate_proj", I, H, false, Component::kDenseMlp);
    b.linear(p + ".mlp.up_proj", I, H, false, Component::kDenseMlp);
    b.linear(p + ".mlp.down_proj", H, I, false, Component::kDenseMlp);
  }
}

void add_vision(SchemaBuilder& b, const VisionConfig& v) {
  const int64_t D = v.hidden_size, M = v.merged_hidden_size(), out = v.out_hidden_size;
  const Component c = Component::kVision;
  b.add("model.visual.patch_embed.proj.weight",
        {D, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size}, c);  // Conv3d
  b.add("model.visual.patch_embed.proj.bias", {D}, c);
  b.add("model.visual.pos_embed.weight", {v.num_position_embeddings, D}, c);
  for (int64_t k = 0; k < v.depth; ++k) {
    const std::string p = fmt::format("model.visual.blocks.{}", k);
    b.layer_norm(p + ".norm1", D, c);
    b.linear(p + ".attn.qkv", 3 * D, D, true, c);
    b.linear(p + ".attn.proj", D, D, true, c);
    b.layer_norm(p + ".norm2", D, c);
    b.linear(p + ".mlp.linear_fc1", v.intermediate_size, D, true, c);
    b.linear(p + ".mlp.linear_fc2", D, v.intermediate_size, true, c);
  }
  // The final merger normalises before the 2x2 shuffle (width D); DeepStack
  // mergers after it (width M) (docs/model.md §6.6).
  b.layer_norm("model.visual.merger.norm", D, c);
  b.linear("model.visual.merger.linear_fc1", M, M, true, c);
  b.linear("model.visual.merger.linear_fc2", out, M, true, c);
  for (size_t k = 0; k < v.deepstack_visual_indexes.size(); ++k) {
    const std::string p = fmt::format("model.visual.deepstack_merger_list.{}", k);
    b.layer_norm(p + ".norm", M, c);
    b.linear(p + ".linear_fc1", M, M, true, c);
    b.linear(p + ".linear_fc2", out, M, true, c);
  }
}

}  // namespace

std::vector<TensorSpec> build_tensor_schema(const ModelConfig& config) {
  std::vector<TensorSpec> specs;
  SchemaBuilder b(specs);
  const TextConfig& t = config.text;
  b.add("model.language_model.embed_tokens.weight", {t.vocab_size, t.hidden_size}, Component::kEmbeddings);
  for (int64_t l = 0; l < t.num_layers; ++l) add_text_layer(b, t, l);
  b.add("model.language_model.norm.weight", {t.hidden_size}, Component::kTextNorms);
  // Tied embeddings: the head is embed_tokens and may be absent (docs/model.md §1.4).
  b.add("lm_head.weight", {t.vocab_size, t.hidden_size}, Component::kLmHead, TensorKind::kPlain,
        config.tie_word_embeddings);
  add_vision(b, config.vision);
  return specs;
}

}  // namespace ql::model
