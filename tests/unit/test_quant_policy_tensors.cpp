// The format each schema tensor gets: only linear matrices, the fused experts
// and the embedding table follow their component; norms, biases, the Conv3d
// patch embedding and the position table take the 16-bit "norms" dtype.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/model/model_config.h"
#include "core/model/tensor_schema.h"
#include "core/quant/precision_policy.h"
#include "core/quant/tensor_precision.h"
#include "tests/unit/model_test_files.h"

namespace ql::quant {
namespace {

const std::string kPublishedDir = std::string(QL_TEST_DATA) + "/qwen3-vl-30b-a3b";

std::map<std::string, QuantFormat> formats_under(const std::string& precision, const model::ModelConfig& config) {
  auto choice = parse_precision(precision);
  EXPECT_TRUE(choice.ok()) << choice.message();
  std::map<std::string, QuantFormat> out;
  for (const auto& spec : model::build_tensor_schema(config)) out[spec.name] = tensor_format(choice->policy, spec);
  return out;
}

model::ModelConfig published() {
  auto c = model::load_model_config(kPublishedDir);
  EXPECT_TRUE(c.ok()) << c.message();
  return c.ok() ? *c : model::ModelConfig{};
}

TEST(QuantPolicyTensors, VisionQuantizesOnlyItsLinearMatrices) {
  auto f = formats_under("vision=int8", published());
  EXPECT_EQ(f.at("model.visual.blocks.0.attn.qkv.weight"), QuantFormat::kInt8Rowwise);
  EXPECT_EQ(f.at("model.visual.blocks.26.mlp.linear_fc2.weight"), QuantFormat::kInt8Rowwise);
  EXPECT_EQ(f.at("model.visual.merger.linear_fc1.weight"), QuantFormat::kInt8Rowwise);
  EXPECT_EQ(f.at("model.visual.deepstack_merger_list.2.linear_fc2.weight"), QuantFormat::kInt8Rowwise);
  EXPECT_EQ(f.at("model.visual.blocks.0.attn.qkv.bias"), QuantFormat::kBF16);
  EXPECT_EQ(f.at("model.visual.blocks.0.norm1.weight"), QuantFormat::kBF16);
  EXPECT_EQ(f.at("model.visual.merger.norm.bias"), QuantFormat::kBF16);
  EXPECT_EQ(f.at("model.visual.patch_embed.proj.weight"), QuantFormat::kBF16);  // Conv3d
  EXPECT_EQ(f.at("model.visual.patch_embed.proj.bias"), QuantFormat::kBF16);
  EXPECT_EQ(f.at("model.visual.pos_embed.weight"), QuantFormat::kBF16);  // a table, 2-D but not a linear
  EXPECT_EQ(f.at("model.language_model.layers.0.self_attn.q_proj.weight"), QuantFormat::kBF16);
}

TEST(QuantPolicyTensors, Nf4PresetKeepsRouterEmbeddingsHeadAndNorms16Bit) {
  auto f = formats_under("nf4", published());
  const std::string l = "model.language_model.layers.7.";
  for (const char* name : {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
                           "self_attn.o_proj.weight", "mlp.experts.gate_up_proj", "mlp.experts.down_proj"})
    EXPECT_EQ(f.at(l + name), QuantFormat::kNf4) << name;
  for (const char* name : {"self_attn.q_norm.weight", "self_attn.k_norm.weight", "input_layernorm.weight",
                           "post_attention_layernorm.weight", "mlp.gate.weight"})
    EXPECT_EQ(f.at(l + name), QuantFormat::kBF16) << name;
  EXPECT_EQ(f.at("model.language_model.embed_tokens.weight"), QuantFormat::kBF16);
  EXPECT_EQ(f.at("lm_head.weight"), QuantFormat::kBF16);
  EXPECT_EQ(f.at("model.language_model.norm.weight"), QuantFormat::kBF16);
  EXPECT_EQ(f.at("model.visual.blocks.3.mlp.linear_fc1.weight"), QuantFormat::kNf4);
}

TEST(QuantPolicyTensors, Fp16PresetMakesThe16BitTensorsFp16) {
  auto f = formats_under("fp16", published());
  EXPECT_EQ(f.at("model.visual.blocks.0.norm1.weight"), QuantFormat::kF16);
  EXPECT_EQ(f.at("model.language_model.norm.weight"), QuantFormat::kF16);
  EXPECT_EQ(f.at("lm_head.weight"), QuantFormat::kF16);
  auto g = formats_under("nf4,norms=fp16", published());
  EXPECT_EQ(g.at("model.visual.pos_embed.weight"), QuantFormat::kF16);
  EXPECT_EQ(g.at("model.language_model.embed_tokens.weight"), QuantFormat::kBF16);
}

TEST(QuantPolicyTensors, EmbeddingsAndHeadFollowTheirKeys) {
  auto f = formats_under("embeddings=int8,lm_head=nf4,router=fp16", published());
  EXPECT_EQ(f.at("model.language_model.embed_tokens.weight"), QuantFormat::kInt8Rowwise);
  EXPECT_EQ(f.at("lm_head.weight"), QuantFormat::kNf4);
  EXPECT_EQ(f.at("model.language_model.layers.47.mlp.gate.weight"), QuantFormat::kF16);
}

TEST(QuantPolicyTensors, QuantizableMatricesOfThePublishedModel) {
  int quantizable = 0;
  for (const auto& spec : model::build_tensor_schema(published())) quantizable += is_quantizable_matrix(spec);
  // Text: embed_tokens + 48 x (q, k, v, o, router, gate_up, down) + lm_head = 1 + 336 + 1.
  // Vision: 27 x (qkv, proj, fc1, fc2) + 4 mergers x (fc1, fc2) = 108 + 8.
  EXPECT_EQ(quantizable, 338 + 116);
}

TEST(QuantPolicyTensors, DenseMlpOfMlpOnlyLayersFollowsExperts) {
  // The tiny test model: layer 1 is an mlp_only (dense) layer.
  auto config = model::parse_model_config(model::testing::tiny_config_json().dump(), "tiny.json");
  ASSERT_TRUE(config.ok()) << config.message();
  auto f = formats_under("experts=nf4,attention=int8", *config);
  EXPECT_EQ(f.at("model.language_model.layers.1.mlp.gate_proj.weight"), QuantFormat::kNf4);
  EXPECT_EQ(f.at("model.language_model.layers.1.mlp.up_proj.weight"), QuantFormat::kNf4);
  EXPECT_EQ(f.at("model.language_model.layers.1.mlp.down_proj.weight"), QuantFormat::kNf4);
  EXPECT_EQ(f.at("model.language_model.layers.0.mlp.experts.down_proj"), QuantFormat::kNf4);
  EXPECT_EQ(f.at("model.language_model.layers.0.self_attn.o_proj.weight"), QuantFormat::kInt8Rowwise);
  EXPECT_EQ(policy_key_for(model::Component::kDenseMlp), PolicyKey::kExperts);
}

}  // namespace
}  // namespace ql::quant
