// config.json and generation_config.json parsing (docs/model.md §1): the published
// file, the transformers-5 spelling, documented defaults, and every bad input
// giving one line that names the file and the field.
#include <gtest/gtest.h>

#include "core/model/generation_config.h"
#include "core/model/model_config.h"
#include "tests/unit/model_test_files.h"

namespace ql::model {
namespace {

using nlohmann::json;
using testing::TempDir;
using testing::tiny_config_json;
using testing::write_file;

const std::string kPublishedDir = std::string(QL_TEST_DATA) + "/qwen3-vl-30b-a3b";

Result<ModelConfig> parse(const json& j) { return parse_model_config(j.dump(), "DIR/config.json"); }

// Expects the parse to fail with a one-line message containing every fragment.
void expect_error(const json& j, std::initializer_list<std::string> fragments) {
  auto r = parse(j);
  ASSERT_FALSE(r.ok()) << j.dump();
  EXPECT_EQ(r.message().find('\n'), std::string::npos) << r.message();
  EXPECT_EQ(r.message().rfind("DIR/config.json: ", 0), 0u) << r.message();
  for (const auto& f : fragments) EXPECT_NE(r.message().find(f), std::string::npos) << r.message() << "\nmissing: " << f;
}

TEST(ModelConfig, PublishedConfigValues) {
  auto r = load_model_config(kPublishedDir);
  ASSERT_TRUE(r.ok()) << r.message();
  const ModelConfig& c = *r;
  EXPECT_EQ(c.model_type, "qwen3_vl_moe");
  EXPECT_EQ(c.text.hidden_size, 2048);
  EXPECT_EQ(c.text.num_layers, 48);
  EXPECT_EQ(c.text.num_heads, 32);
  EXPECT_EQ(c.text.num_kv_heads, 4);
  EXPECT_EQ(c.text.head_dim, 128);
  EXPECT_EQ(c.text.vocab_size, 151936);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.text.num_experts, 128);
  EXPECT_EQ(c.text.num_experts_per_tok, 8);
  EXPECT_EQ(c.text.moe_intermediate_size, 768);
  EXPECT_EQ(c.text.intermediate_size, 6144);
  EXPECT_EQ(c.text.num_moe_layers(), 48);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 5000000.0);
  EXPECT_EQ(c.text.rope_type, "default");
  EXPECT_EQ(c.text.mrope_section, (std::array<int64_t, 3>{24, 20, 20}));
  EXPECT_TRUE(c.text.mrope_interleaved);
  EXPECT_FALSE(c.text.attention_bias);
  EXPECT_EQ(c.vision.depth, 27);
  EXPECT_EQ(c.vision.hidden_size, 1152);
  EXPECT_EQ(c.vision.num_heads, 16);
  EXPECT_EQ(c.vision.head_dim(), 72);
  EXPECT_EQ(c.vision.intermediate_size, 4304);
  EXPECT_EQ(c.vision.patch_size, 16);
  EXPECT_EQ(c.vision.temporal_patch_size, 2);
  EXPECT_EQ(c.vision.spatial_merge_size, 2);
  EXPECT_EQ(c.vision.in_channels, 3);
  EXPECT_EQ(c.vision.num_position_embeddings, 2304);
  EXPECT_EQ(c.vision.out_hidden_size, 2048);
  EXPECT_EQ(c.vision.deepstack_visual_indexes, (std::vector<int64_t>{8, 16, 24}));
  EXPECT_DOUBLE_EQ(c.vision.rope_theta, 10000.0);
  EXPECT_EQ(c.image_token_id, 151655);
  EXPECT_EQ(c.video_token_id, 151656);
  EXPECT_EQ(c.vision_start_token_id, 151652);
  EXPECT_EQ(c.vision_end_token_id, 151653);
  EXPECT_FALSE(c.tie_word_embeddings);
  ASSERT_TRUE(c.dtype.has_value());
  EXPECT_EQ(*c.dtype, DType::kBF16);
}

// The same model saved by transformers 5: rope_parameters, num_local_experts,
// vision num_attention_heads and rope_parameters, top-level dtype.
TEST(ModelConfig, Transformers5SpellingParsesToTheSameValues) {
  json pub = json::parse(testing::read_file(kPublishedDir + "/config.json"));
  json t5 = pub;
  auto& text = t5["text_config"];
  text.erase("rope_scaling");
  text.erase("rope_theta");
  text["rope_parameters"] = {{"mrope_interleaved", true}, {"mrope_section", {24, 20, 20}},
                             {"rope_theta", 5000000.0}, {"rope_type", "default"}};
  text["num_local_experts"] = text["num_experts"];
  text.erase("num_experts");
  text.erase("dtype");
  t5["dtype"] = "bfloat16";
  auto& vis = t5["vision_config"];
  vis["num_attention_heads"] = vis["num_heads"];
  vis.erase("num_heads");
  vis["model_type"] = "qwen3_vl_moe_vision";
  vis["rope_parameters"] = {{"rope_theta", 10000.0}, {"rope_type", "axial"}};

  auto a = parse(pub);
  auto b = parse(t5);
  ASSERT_TRUE(a.ok()) << a.message();
  ASSERT_TRUE(b.ok()) << b.message();
  EXPECT_DOUBLE_EQ(b->text.rope_theta, a->text.rope_theta);
  EXPECT_EQ(b->text.mrope_section, a->text.mrope_section);
  EXPECT_EQ(b->text.rope_type, a->text.rope_type);
  EXPECT_EQ(b->text.num_experts, 128);
  EXPECT_EQ(b->text.num_experts, a->text.num_experts);
  EXPECT_EQ(b->vision.num_heads, a->vision.num_heads);
  EXPECT_DOUBLE_EQ(b->vision.rope_theta, a->vision.rope_theta);
  EXPECT_EQ(b->dtype, a->dtype);
  EXPECT_EQ(b->text.layer_is_moe, a->text.layer_is_moe);
  EXPECT_EQ(b->text.hidden_size, a->text.hidden_size);
}

TEST(ModelConfig, RopeParametersWinOverRopeScalingAndLegacyTypeKey) {
  json j = tiny_config_json();
  j["text_config"]["rope_parameters"] = {{"rope_theta", 1234.0}, {"type", "default"}, {"mrope_section", {3, 2, 1}}};
  auto r = parse(j);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_DOUBLE_EQ(r->text.rope_theta, 1234.0);
  EXPECT_EQ(r->text.mrope_section, (std::array<int64_t, 3>{3, 2, 1}));
}

TEST(ModelConfig, DocumentedDefaults) {
  json j = tiny_config_json();
  auto& t = j["text_config"];
  t.erase("head_dim");            // -> hidden / heads = 40 / 4 = 10
  t.erase("num_key_value_heads");  // -> num_attention_heads = 4
  t["rope_scaling"].erase("mrope_section");  // -> [24, 20, 20]
  t["torch_dtype"] = "float16";
  t.erase("dtype");
  auto r = parse(j);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->text.head_dim, 10);
  EXPECT_EQ(r->text.num_kv_heads, 4);
  EXPECT_EQ(r->text.mrope_section, (std::array<int64_t, 3>{24, 20, 20}));
  EXPECT_EQ(r->dtype, DType::kF16);
  EXPECT_DOUBLE_EQ(r->vision.rope_theta, 10000.0);
}

TEST(ModelConfig, MoeLayersFromMlpOnlyLayersAndSparseStep) {
  json j = tiny_config_json();
  auto r = parse(j);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->text.layer_is_moe, (std::vector<bool>{true, false, true}));  // mlp_only_layers [1]

  j["text_config"]["mlp_only_layers"] = json::array();
  j["text_config"]["decoder_sparse_step"] = 2;  // MoE iff (l + 1) % 2 == 0
  r = parse(j);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->text.layer_is_moe, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(r->text.num_moe_layers(), 1);
}

TEST(ModelConfig, TieWordEmbeddingsTopLevel) {
  json j = tiny_config_json();
  j["tie_word_embeddings"] = true;
  auto r = parse(j);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(r->tie_word_embeddings);
}

TEST(ModelConfig, MissingFieldsNamed) {
  json j = tiny_config_json();
  j["text_config"].erase("hidden_size");
  expect_error(j, {"text_config.hidden_size: missing"});

  j = tiny_config_json();
  j["vision_config"].erase("depth");
  expect_error(j, {"vision_config.depth: missing"});

  j = tiny_config_json();
  j["text_config"].erase("num_experts");
  expect_error(j, {"text_config.num_experts: missing", "num_local_experts"});

  j = tiny_config_json();
  j["vision_config"].erase("num_heads");
  expect_error(j, {"vision_config.num_heads: missing", "num_attention_heads"});

  j = tiny_config_json();
  j.erase("image_token_id");
  expect_error(j, {"image_token_id: missing"});

  j = tiny_config_json();
  j.erase("text_config");
  expect_error(j, {"text_config: missing"});

  j = tiny_config_json();
  j["vision_config"].erase("deepstack_visual_indexes");
  expect_error(j, {"vision_config.deepstack_visual_indexes: missing"});
}

TEST(ModelConfig, RopeThetaHasNoSilentFallback) {
  json j = tiny_config_json();
  j["text_config"].erase("rope_theta");
  expect_error(j, {"text_config.rope_theta: missing", "text_config.rope_scaling"});
}

TEST(ModelConfig, WrongTypesNamed) {
  json j = tiny_config_json();
  j["text_config"]["hidden_size"] = "40";
  expect_error(j, {"text_config.hidden_size: expected an integer, got string"});

  j = tiny_config_json();
  j["text_config"]["num_attention_heads"] = 4.5;
  expect_error(j, {"text_config.num_attention_heads: expected an integer, got number 4.5"});

  j = tiny_config_json();
  j["text_config"]["attention_bias"] = "no";
  expect_error(j, {"text_config.attention_bias: expected true or false, got string"});

  j = tiny_config_json();
  j["text_config"]["rope_scaling"]["mrope_section"] = {2, "x", 2};
  expect_error(j, {"text_config.rope_scaling.mrope_section[1]: expected an integer, got string"});

  j = tiny_config_json();
  j["vision_config"] = json::array();
  expect_error(j, {"vision_config: expected an object, got array"});

  j = tiny_config_json();
  j["text_config"]["dtype"] = 16;
  expect_error(j, {"text_config.dtype: expected a string, got integer 16"});

  j = tiny_config_json();
  j["text_config"]["rms_norm_eps"] = "1e-6";
  expect_error(j, {"text_config.rms_norm_eps: expected a number, got string"});
}

TEST(ModelConfig, ValuesOutOfRangeNamed) {
  json j = tiny_config_json();
  j["text_config"]["num_attention_heads"] = 0;
  expect_error(j, {"text_config.num_attention_heads: must be positive, got 0"});

  j = tiny_config_json();
  j["text_config"]["hidden_size"] = 42;
  j["vision_config"]["out_hidden_size"] = 42;
  j["text_config"].erase("head_dim");
  expect_error(j, {"text_config.hidden_size: 42 is not divisible by num_attention_heads (4)"});

  j = tiny_config_json();
  j["text_config"]["num_key_value_heads"] = 3;
  expect_error(j, {"text_config.num_key_value_heads: 3 does not divide num_attention_heads (4)"});

  j = tiny_config_json();
  j["text_config"]["head_dim"] = 11;
  expect_error(j, {"text_config.head_dim", "odd"});

  j = tiny_config_json();
  j["text_config"]["num_experts_per_tok"] = 7;
  expect_error(j, {"text_config.num_experts_per_tok: 7 exceeds the number of experts (6)"});

  j = tiny_config_json();
  j["text_config"]["mlp_only_layers"] = {3};
  expect_error(j, {"text_config.mlp_only_layers: layer 3 is outside 0..2"});

  j = tiny_config_json();
  j["text_config"]["decoder_sparse_step"] = 0;
  expect_error(j, {"text_config.decoder_sparse_step: must be positive, got 0"});

  j = tiny_config_json();
  j["text_config"].erase("intermediate_size");  // layer 1 is dense and needs it
  expect_error(j, {"text_config.intermediate_size: missing"});

  j = tiny_config_json();
  j["text_config"]["hidden_act"] = "gelu";
  expect_error(j, {"text_config.hidden_act: unsupported activation \"gelu\""});

  j = tiny_config_json();
  j["text_config"]["rope_scaling"]["rope_type"] = "yarn";
  expect_error(j, {"text_config.rope_scaling.rope_type: unsupported rope type \"yarn\""});

  j = tiny_config_json();
  j["text_config"]["rope_scaling"]["mrope_section"] = {2, 2};
  expect_error(j, {"text_config.rope_scaling.mrope_section: expected 3 entries"});

  j = tiny_config_json();
  j["text_config"]["rope_theta"] = -1;
  expect_error(j, {"text_config.rope_theta: must be positive"});

  j = tiny_config_json();
  j["text_config"]["num_local_experts"] = 8;  // disagrees with num_experts 6
  expect_error(j, {"text_config.num_local_experts: 8 disagrees with text_config.num_experts (6)"});

  j = tiny_config_json();
  j["text_config"]["dtype"] = "int8";
  expect_error(j, {"text_config.dtype: unsupported dtype \"int8\""});

  j = tiny_config_json();
  j["text_config"]["hidden_size"] = 9223372036854775808u;
  expect_error(j, {"text_config.hidden_size: 9223372036854775808 is too large"});
}

TEST(ModelConfig, SanityLimitsKeepSizesInsideInt64) {
  json j = tiny_config_json();
  j["text_config"]["num_hidden_layers"] = 5000;
  expect_error(j, {"text_config.num_hidden_layers: 5000 exceeds the sanity limit 4096"});

  j = tiny_config_json();
  j["vision_config"]["hidden_size"] = 2097152;
  expect_error(j, {"vision_config.hidden_size: 2097152 exceeds the sanity limit 1048576"});

  // Each field within its limit, but 2^20 experts of 1024 x 2^21 are 2^51 parameters per layer.
  j = tiny_config_json();
  j["text_config"]["hidden_size"] = 1024;
  j["vision_config"]["out_hidden_size"] = 1024;
  j["text_config"]["num_experts"] = 1048576;
  j["text_config"]["moe_intermediate_size"] = 1048576;
  expect_error(j, {"parameters, beyond the sanity limit",
                   "largest tensor model.language_model.layers.0.mlp.experts.gate_up_proj [1048576, 1024, 2097152]"});
}

TEST(ModelConfig, VisionValuesOutOfRangeNamed) {
  json j = tiny_config_json();
  j["vision_config"]["num_heads"] = 5;
  expect_error(j, {"vision_config.hidden_size: 24 is not divisible by num_heads (5)"});

  j = tiny_config_json();
  j["vision_config"]["num_heads"] = 4;  // head dim 6: 2-D RoPE needs a multiple of 4
  expect_error(j, {"vision_config.hidden_size", "not a multiple of 4"});

  j = tiny_config_json();
  j["vision_config"]["deepstack_visual_indexes"] = {2};
  expect_error(j, {"vision_config.deepstack_visual_indexes: block 2 is outside 0..1"});

  j = tiny_config_json();
  j["vision_config"]["deepstack_visual_indexes"] = {0, 0};
  expect_error(j, {"vision_config.deepstack_visual_indexes: block 0 is listed twice"});

  j = tiny_config_json();
  j["vision_config"]["out_hidden_size"] = 48;
  expect_error(j, {"vision_config.out_hidden_size: 48 differs from text_config.hidden_size (40)"});

  j = tiny_config_json();
  j["vision_config"]["num_position_embeddings"] = 15;
  expect_error(j, {"vision_config.num_position_embeddings: 15 is not a square"});

  j = tiny_config_json();
  j["vision_config"]["rope_parameters"] = {{"rope_type", "mrope"}};
  expect_error(j, {"vision_config.rope_parameters.rope_type: unsupported rope type \"mrope\""});

  j = tiny_config_json();
  j["vision_config"]["patch_size"] = 0;
  expect_error(j, {"vision_config.patch_size: must be positive, got 0"});
}

TEST(ModelConfig, TokenIdsAndModelTypeChecked) {
  json j = tiny_config_json();
  j["image_token_id"] = 64;  // vocab is 64
  expect_error(j, {"image_token_id: 64 is outside the vocabulary (0..63)"});

  j = tiny_config_json();
  j["model_type"] = "qwen3_vl";
  expect_error(j, {"model_type: \"qwen3_vl\" is not qwen3_vl_moe"});
}

TEST(ModelConfig, FileLevelErrorsNameTheFile) {
  auto r = parse_model_config("{\"text_config\": ", "DIR/config.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message().rfind("DIR/config.json: not valid JSON", 0), 0u) << r.message();
  EXPECT_EQ(r.message().find('\n'), std::string::npos);

  r = parse_model_config("[1, 2]", "DIR/config.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "DIR/config.json: expected a JSON object at the top, got array");

  TempDir tmp;
  r = load_model_config(tmp.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find(tmp.path() + "/config.json"), std::string::npos) << r.message();
}

// ---------------------------------------------------------------------------
TEST(GenerationConfig, PublishedFile) {
  auto r = load_generation_config(kPublishedDir);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(r->from_file);
  EXPECT_EQ(r->eos_token_ids, (std::vector<int64_t>{151645, 151643}));
  EXPECT_EQ(r->bos_token_id, 151643);
  EXPECT_EQ(r->pad_token_id, 151643);
  EXPECT_TRUE(r->do_sample);
  EXPECT_DOUBLE_EQ(r->temperature, 0.7);
  EXPECT_DOUBLE_EQ(r->top_p, 0.8);
  EXPECT_EQ(r->top_k, 20);
  EXPECT_DOUBLE_EQ(r->repetition_penalty, 1.0);
}

TEST(GenerationConfig, AbsentFileGivesPublishedDefaults) {
  TempDir tmp;
  auto r = load_generation_config(tmp.path());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_FALSE(r->from_file);
  EXPECT_EQ(r->eos_token_ids, (std::vector<int64_t>{151645, 151643}));
  EXPECT_TRUE(r->do_sample);
  EXPECT_DOUBLE_EQ(r->temperature, 0.7);
  EXPECT_DOUBLE_EQ(r->top_p, 0.8);
  EXPECT_EQ(r->top_k, 20);
}

TEST(GenerationConfig, SingleEosIdAndClassDefaultsForAbsentFields) {
  auto r = parse_generation_config(R"({"eos_token_id": 7})", "G");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->eos_token_ids, (std::vector<int64_t>{7}));
  EXPECT_FALSE(r->do_sample);              // transformers GenerationConfig defaults
  EXPECT_DOUBLE_EQ(r->temperature, 1.0);
  EXPECT_DOUBLE_EQ(r->top_p, 1.0);
  EXPECT_EQ(r->top_k, 50);
  EXPECT_FALSE(r->bos_token_id.has_value());
}

TEST(GenerationConfig, BadFieldsNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"eos_token_id": "x"})", "G: eos_token_id: expected an integer, got string"},
      {R"({"eos_token_id": [1, 2.5]})", "G: eos_token_id[1]: expected an integer, got number 2.5"},
      {R"({"eos_token_id": -3})", "G: eos_token_id: negative token id -3"},
      {R"({"temperature": -1})", "G: temperature: must be >= 0, got -1"},
      {R"({"top_p": 0})", "G: top_p: must be in (0, 1], got 0"},
      {R"({"top_k": -1})", "G: top_k: must be >= 0, got -1"},
      {R"({"do_sample": 1})", "G: do_sample: expected true or false, got integer 1"},
      {R"({"repetition_penalty": 0})", "G: repetition_penalty: must be positive, got 0"},
      {R"({"pad_token_id": "a"})", "G: pad_token_id: expected an integer, got string"},
  };
  for (auto [text, expected] : cases) {
    auto r = parse_generation_config(text, "G");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.message(), expected);
  }
  TempDir tmp;
  write_file(tmp.file("generation_config.json"), "{oops");
  auto r = load_generation_config(tmp.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message().rfind(tmp.file("generation_config.json") + ": not valid JSON", 0), 0u) << r.message();
}

}  // namespace
}  // namespace ql::model
