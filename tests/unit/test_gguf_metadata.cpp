// general.* metadata as gguf-py derives it (names from ids, size labels,
// sampling defaults), the converter's "looks special" test for added tokens,
// and the architecture / projector keys from config.json.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/io/gguf/general_metadata.h"
#include "core/io/gguf/mmproj_metadata.h"
#include "core/io/gguf/text_metadata.h"
#include "core/io/gguf/tokenizer_metadata.h"

namespace ql::io::gguf {
namespace {

std::vector<std::string> keys_of(const std::vector<GgufKv>& kvs) {
  std::vector<std::string> k;
  for (const auto& kv : kvs) k.push_back(kv.key);
  return k;
}

TEST(GgufGeneralMetadata, TitlesFromIds) {
  EXPECT_EQ(id_to_title("demo-model"), "Demo Model");
  EXPECT_EQ(id_to_title("tiny-c"), "Tiny C");
  EXPECT_EQ(id_to_title("Qwen3-VL-30B-A3B-Instruct"), "Qwen3 VL 30B A3B Instruct");
  EXPECT_EQ(id_to_title("llama-7b-chat"), "Llama 7b Chat");  // "7b" starts with a digit: kept
  EXPECT_EQ(id_to_title("model-v2.1-x2b"), "Model v2.1 X2B");  // title-casing after a digit, as Python's
}

TEST(GgufGeneralMetadata, PartsOfModelIds) {
  auto q = model_id_parts("Qwen/Qwen3-VL-30B-A3B-Instruct", 31'070'754'032);
  EXPECT_EQ(q.name, "Qwen3-VL-30B-A3B-Instruct");
  EXPECT_EQ(q.organization, "Qwen");
  EXPECT_EQ(q.basename, "Qwen3-VL");
  EXPECT_EQ(q.size_label, "30B-A3B");
  EXPECT_EQ(q.finetune, "Instruct");
  EXPECT_EQ(q.version, "");

  auto m = model_id_parts("Mistral-7B-Instruct-v0.2", 7'000'000'000);
  EXPECT_EQ(m.basename, "Mistral");
  EXPECT_EQ(m.size_label, "7B");
  EXPECT_EQ(m.finetune, "Instruct");
  EXPECT_EQ(m.version, "v0.2");

  // A size far from the real parameter count reads as a finetune tag (a context length).
  auto small = model_id_parts("Qwen3-VL-30B-A3B-Instruct", 5'000'000);
  EXPECT_EQ(small.finetune, "30b-Instruct");
  EXPECT_EQ(small.size_label, "A3B");

  // Nothing but words: too ambiguous, no basename.
  auto demo = model_id_parts("demo-model", 7'300'000);
  EXPECT_EQ(demo.basename, "");
  EXPECT_EQ(demo.size_label, "");
  EXPECT_EQ(demo.finetune, "");
}

TEST(GgufGeneralMetadata, SizeLabels) {
  EXPECT_EQ(size_label({7'300'000, 7'300'000, 0, 0}), "7.3M");
  EXPECT_EQ(size_label({133'000, 133'000, 0, 0}), "133K");
  EXPECT_EQ(size_label({30'532'000'000, 30'532'000'000, 0, 0}), "31B");
  EXPECT_EQ(size_label({999'999, 999'999, 0, 0}), "1000K");
  EXPECT_EQ(size_label({0, 2'000'000'000, 1'100'000'000, 128}), "128x3.1B");

  const auto c = count_parameters({{"output.weight", {4, 10}}, {"blk.0.ffn_up_exps.weight", {4, 3, 8}}});
  EXPECT_EQ(c.total, 136);
  EXPECT_EQ(c.shared, 40);
  EXPECT_EQ(c.expert, 12);  // one expert of the 8
  EXPECT_EQ(c.expert_count, 8);
}

TEST(GgufGeneralMetadata, KeysInTheConvertersOrder) {
  const auto config = nlohmann::json::parse(R"({"_name_or_path": "Qwen/Qwen3-VL-30B-A3B-Instruct"})");
  const auto gen = nlohmann::json::parse(R"({"top_k": 20, "top_p": 0.8, "temperature": 0.7, "do_sample": true})");
  const auto kvs = general_metadata("somewhere", config, &gen, {31'070'754'032, 0, 0, 0});
  EXPECT_EQ(keys_of(kvs),
            (std::vector<std::string>{"general.sampling.top_k", "general.sampling.top_p", "general.sampling.temp",
                                      "general.name", "general.organization", "general.finetune",
                                      "general.basename", "general.size_label"}));
  EXPECT_EQ(kvs[0].value.type, GgufValueType::kInt32);
  EXPECT_EQ(kvs[0].value.as_i64(), 20);
  EXPECT_EQ(kvs[2].value.type, GgufValueType::kFloat32);
  EXPECT_FLOAT_EQ(static_cast<float>(kvs[2].value.as_f64()), 0.7f);
  EXPECT_EQ(kvs[3].value.as_string(), "Qwen3 VL 30B A3B Instruct");
  EXPECT_EQ(kvs[4].value.as_string(), "Qwen");
  EXPECT_EQ(kvs[7].value.as_string(), "30B-A3B");

  // A local path in _name_or_path is ignored; the folder name gives the name,
  // the parameter count the size label.
  const auto local = nlohmann::json::parse(R"({"_name_or_path": "/home/me/models/x"})");
  const auto plain = general_metadata("demo-model", local, nullptr, {7'300'000, 300'000, 875'000, 8});
  EXPECT_EQ(keys_of(plain), (std::vector<std::string>{"general.name", "general.size_label"}));
  EXPECT_EQ(plain[0].value.as_string(), "Demo Model");
  EXPECT_EQ(plain[1].value.as_string(), "8x1.2M");
}

TEST(GgufTokenizerMetadata, TokensThatLookSpecial) {
  for (const char* t : {"<|im_start|>", "<|fim_pad|>", "<|>", "<pad>", "<unused12>", "[@BOS@]"})
    EXPECT_TRUE(token_looks_special(t)) << t;
  for (const char* t : {"<think>", "</tool_call>", "<|im_start", "hello", "|>"}) EXPECT_FALSE(token_looks_special(t)) << t;
}

TEST(GgufTextMetadata, KeysFromThePublishedAndTransformers5Spellings) {
  const auto published = nlohmann::json::parse(R"({
    "text_config": {"num_hidden_layers": 48, "max_position_embeddings": 262144, "hidden_size": 2048,
      "intermediate_size": 6144, "num_attention_heads": 32, "num_key_value_heads": 4,
      "rope_scaling": {"mrope_interleaved": true, "mrope_section": [24, 20, 20], "rope_type": "default"},
      "rope_theta": 5000000, "rms_norm_eps": 1e-06, "num_experts": 128, "num_experts_per_tok": 8,
      "head_dim": 128, "moe_intermediate_size": 768},
    "vision_config": {"deepstack_visual_indexes": [8, 16, 24]}})");
  auto kvs = text_arch_metadata(published, "config.json", LlamaFtype::kMostlyBF16);
  ASSERT_TRUE(kvs) << kvs.message();
  const std::vector<std::string> expected = {
      "qwen3vlmoe.block_count", "qwen3vlmoe.context_length", "qwen3vlmoe.embedding_length",
      "qwen3vlmoe.feed_forward_length", "qwen3vlmoe.attention.head_count", "qwen3vlmoe.attention.head_count_kv",
      "qwen3vlmoe.rope.dimension_sections", "qwen3vlmoe.rope.freq_base",
      "qwen3vlmoe.attention.layer_norm_rms_epsilon", "qwen3vlmoe.expert_count", "qwen3vlmoe.expert_used_count",
      "qwen3vlmoe.attention.key_length", "qwen3vlmoe.attention.value_length", "general.file_type",
      "qwen3vlmoe.expert_feed_forward_length", "qwen3vlmoe.n_deepstack_layers", "general.quantization_version"};
  EXPECT_EQ(keys_of(*kvs), expected);
  const auto& secs = (*kvs)[6].value;
  EXPECT_EQ(secs.array_type, GgufValueType::kInt32);
  EXPECT_EQ(secs.ints, (std::vector<uint64_t>{24, 20, 20, 0}));
  EXPECT_FLOAT_EQ(static_cast<float>((*kvs)[7].value.as_f64()), 5e6f);
  EXPECT_EQ((*kvs)[13].value.as_u64(), 32u);
  EXPECT_EQ((*kvs)[15].value.as_u64(), 3u);

  // transformers 5: rope_theta inside rope_parameters; no head_dim, no kv heads: those keys are absent.
  const auto v5 = nlohmann::json::parse(R"({
    "text_config": {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
      "rope_parameters": {"mrope_section": [2, 1, 1], "rope_type": "default", "rope_theta": 1000000.0},
      "num_local_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}})");
  auto k5 = text_arch_metadata(v5, "config.json", LlamaFtype::kMostlyF16);
  ASSERT_TRUE(k5) << k5.message();
  const auto names = keys_of(*k5);
  EXPECT_EQ(std::count(names.begin(), names.end(), "qwen3vlmoe.attention.key_length"), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "qwen3vlmoe.attention.head_count_kv"), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "qwen3vlmoe.expert_count"), 1);
  EXPECT_FLOAT_EQ(static_cast<float>(find_kv(*k5, "qwen3vlmoe.rope.freq_base")->as_f64()), 1e6f);
  EXPECT_EQ(find_kv(*k5, "qwen3vlmoe.n_deepstack_layers")->as_u64(), 0u);

  auto missing = text_arch_metadata(nlohmann::json::parse(R"({"text_config": {}})"), "x/config.json",
                                    LlamaFtype::kMostlyF16);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("x/config.json: text_config.num_hidden_layers"), std::string::npos);
}

TEST(GgufMmprojMetadata, KeysOfThePublishedProjector) {
  const auto config = nlohmann::json::parse(R"({
    "text_config": {"hidden_size": 2048, "rms_norm_eps": 1e-06},
    "vision_config": {"depth": 27, "hidden_size": 1152, "num_heads": 16, "intermediate_size": 4304,
      "patch_size": 16, "spatial_merge_size": 2, "num_position_embeddings": 2304,
      "deepstack_visual_indexes": [8, 16, 24]}})");
  const auto pre = nlohmann::json::parse(R"({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})");
  auto kvs = mmproj_metadata(config, pre, "dir", LlamaFtype::kMostlyF16);
  ASSERT_TRUE(kvs) << kvs.message();
  const std::vector<std::string> expected = {
      "general.file_type", "clip.has_vision_encoder", "clip.vision.projection_dim", "clip.vision.image_size",
      "clip.vision.patch_size", "clip.vision.embedding_length", "clip.vision.feed_forward_length",
      "clip.vision.block_count", "clip.vision.attention.head_count", "clip.vision.image_mean",
      "clip.vision.image_std", "clip.projector_type", "clip.use_gelu", "clip.vision.spatial_merge_size",
      "clip.vision.attention.layer_norm_epsilon", "clip.vision.is_deepstack_layers",
      "general.quantization_version"};
  EXPECT_EQ(keys_of(*kvs), expected);
  EXPECT_EQ(find_kv(*kvs, "clip.vision.image_size")->as_u64(), 768u);  // sqrt(2304) * 16
  EXPECT_EQ(find_kv(*kvs, "clip.vision.projection_dim")->as_u64(), 2048u);
  EXPECT_EQ(find_kv(*kvs, "clip.projector_type")->as_string(), "qwen3vl_merger");
  const GgufValue* ds = find_kv(*kvs, "clip.vision.is_deepstack_layers");
  ASSERT_EQ(ds->count(), 27u);
  for (size_t i = 0; i < 27; ++i) EXPECT_EQ(ds->ints[i], (i == 8 || i == 16 || i == 24) ? 1u : 0u) << i;

  auto no_mean = mmproj_metadata(config, nlohmann::json::object(), "dir", LlamaFtype::kMostlyF16);
  ASSERT_FALSE(no_mean);
  EXPECT_NE(no_mean.message().find("image_mean"), std::string::npos) << no_mean.message();
}

}  // namespace
}  // namespace ql::io::gguf
