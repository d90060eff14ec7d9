// Validating a checkpoint against the tensor schema: the tiny model validates;
// removed, renamed, reshaped and wrong-dtype tensors are all reported at once;
// both fused-expert orientations are accepted and the ambiguous one refused.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/model/checkpoint.h"
#include "core/model/model_config.h"
#include "core/model/model_info.h"
#include "core/model/tensor_schema.h"
#include "core/model/tensor_validation.h"
#include "tests/unit/model_test_files.h"

namespace ql::model {
namespace {

using nlohmann::json;
using testing::FakeTensor;
using testing::find_fake;
using testing::TempDir;
using testing::tiny_config_json;
using testing::tiny_tensors;

const std::string kGateUp0 = "model.language_model.layers.0.mlp.experts.gate_up_proj";
const std::string kDown0 = "model.language_model.layers.0.mlp.experts.down_proj";
const std::string kGateUp2 = "model.language_model.layers.2.mlp.experts.gate_up_proj";
const std::string kDown2 = "model.language_model.layers.2.mlp.experts.down_proj";

struct Validated {
  ValidationReport report;
  ParameterCounts counts;
};

// Writes config + tensors into a fresh folder, opens and validates it.
Validated validate(const TempDir& tmp, const json& config, const std::vector<FakeTensor>& tensors) {
  const std::string dir = tmp.sub("model");
  testing::write_model_folder(dir, config, tensors);
  auto cfg = load_model_config(dir);
  EXPECT_TRUE(cfg.ok()) << cfg.message();
  auto ckpt = Checkpoint::open(dir);
  EXPECT_TRUE(ckpt.ok()) << ckpt.message();
  const auto schema = build_tensor_schema(*cfg);
  return {validate_checkpoint(*ckpt, schema, cfg->dtype), count_parameters(*ckpt, schema)};
}

bool has_problem(const ValidationReport& r, const std::string& line) {
  return std::find(r.problems.begin(), r.problems.end(), line) != r.problems.end();
}

std::string problems_text(const ValidationReport& r) {
  std::string s;
  for (const auto& p : r.problems) s += p + "\n";
  return s;
}

void swap_expert_dims(std::vector<FakeTensor>& ts, const std::string& name) {
  auto& shape = find_fake(ts, name)->shape;
  std::swap(shape[1], shape[2]);
}

TEST(Validation, TinyCheckpointValidates) {
  TempDir tmp;
  auto v = validate(tmp, tiny_config_json(), tiny_tensors());
  EXPECT_TRUE(v.report.ok()) << problems_text(v.report);
  EXPECT_EQ(v.report.checked, 75u);
  EXPECT_EQ(v.report.summary(), tmp.file("model") + ": all 75 tensors match config.json");
  ASSERT_EQ(v.report.expert_orientation.size(), 4u);
  for (const auto& [name, o] : v.report.expert_orientation) EXPECT_EQ(o, ExpertOrientation::kInOut) << name;
  EXPECT_EQ(v.counts.total(), 102'416);  // same hand figure as the schema test
  EXPECT_EQ(v.counts.other, 0);
}

TEST(Validation, EveryProblemListedOnePerLine) {
  TempDir tmp;
  auto ts = tiny_tensors();
  testing::erase_fake(ts, "model.visual.blocks.1.norm2.bias");                                  // missing
  find_fake(ts, "model.language_model.layers.2.self_attn.k_norm.weight")->name = "model.language_model.layers.2.self_attn.k_nrm.weight";  // renamed
  find_fake(ts, "model.language_model.layers.0.self_attn.q_proj.weight")->shape = {40, 40};     // reshaped
  find_fake(ts, "model.visual.pos_embed.weight")->dtype = "BF16";                               // wrong dtype
  find_fake(ts, kDown2)->shape = {6, 24, 41};                                                   // neither orientation
  auto v = validate(tmp, tiny_config_json(), ts);
  const auto& r = v.report;
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.problems.size(), 6u) << problems_text(r);
  EXPECT_TRUE(has_problem(r, "model.visual.blocks.1.norm2.bias: missing (expected shape [24])")) << problems_text(r);
  EXPECT_TRUE(has_problem(r, "model.language_model.layers.2.self_attn.k_norm.weight: missing (expected shape [12])"))
      << problems_text(r);
  EXPECT_TRUE(has_problem(r, "\"model.language_model.layers.2.self_attn.k_nrm.weight\": unexpected tensor (shape [12]): "
                             "not part of the architecture config.json describes"))
      << problems_text(r);
  EXPECT_TRUE(has_problem(r, "model.language_model.layers.0.self_attn.q_proj.weight: shape [40, 40], expected [48, 40]"))
      << problems_text(r);
  EXPECT_TRUE(has_problem(r, "model.visual.pos_embed.weight: dtype BF16, expected F32 (the dtype config.json declares)"))
      << problems_text(r);
  EXPECT_TRUE(has_problem(r, kDown2 + ": shape [6, 24, 41], expected [6, 24, 40] ([E, I, H]) or [6, 40, 24] ([E, H, I])"))
      << problems_text(r);
  for (const auto& p : r.problems) EXPECT_EQ(p.find('\n'), std::string::npos);
  EXPECT_EQ(r.missing, 2u);
  EXPECT_EQ(r.unexpected, 1u);
  EXPECT_EQ(r.misshaped, 2u);
  EXPECT_EQ(r.wrong_dtype, 1u);
  EXPECT_EQ(r.summary(), tmp.file("model") + ": 6 problems: 2 missing, 1 unexpected, 2 mis-shaped, 1 wrong dtype");
  EXPECT_EQ(v.counts.other, 12);  // the renamed k_norm
}

TEST(Validation, Transformers5ExpertOrientationAccepted) {
  TempDir tmp;
  auto ts = tiny_tensors();
  for (const auto& n : {kGateUp0, kDown0, kGateUp2, kDown2}) swap_expert_dims(ts, n);
  EXPECT_EQ(find_fake(ts, kGateUp0)->shape, (std::vector<int64_t>{6, 48, 40}));  // [E, 2I, H]
  EXPECT_EQ(find_fake(ts, kDown0)->shape, (std::vector<int64_t>{6, 40, 24}));    // [E, H, I]
  auto v = validate(tmp, tiny_config_json(), ts);
  EXPECT_TRUE(v.report.ok()) << problems_text(v.report);
  ASSERT_EQ(v.report.expert_orientation.size(), 4u);
  for (const auto& [name, o] : v.report.expert_orientation) EXPECT_EQ(o, ExpertOrientation::kOutIn) << name;
}

TEST(Validation, OrientationRecordedPerTensor) {
  TempDir tmp;
  auto ts = tiny_tensors();
  swap_expert_dims(ts, kGateUp2);
  auto v = validate(tmp, tiny_config_json(), ts);
  EXPECT_TRUE(v.report.ok()) << problems_text(v.report);
  EXPECT_EQ(v.report.expert_orientation.at(kGateUp0), ExpertOrientation::kInOut);
  EXPECT_EQ(v.report.expert_orientation.at(kDown0), ExpertOrientation::kInOut);
  EXPECT_EQ(v.report.expert_orientation.at(kGateUp2), ExpertOrientation::kOutIn);
  EXPECT_EQ(v.report.expert_orientation.at(kDown2), ExpertOrientation::kInOut);
}

// hidden 48 == 2 x expert width 24: gate_up [E, 48, 48] fits both orientations.
TEST(Validation, AmbiguousGateUpRefused) {
  json cfg = tiny_config_json();
  cfg["text_config"]["hidden_size"] = 48;
  cfg["vision_config"]["out_hidden_size"] = 48;
  auto ts = tiny_tensors();
  for (auto& t : ts) {  // re-shape the tensors that hold H by hand for H = 48
    if (t.name.find("model.visual.") == 0) {
      if (t.name.find("merger") != std::string::npos && t.name.find("linear_fc2") != std::string::npos) t.shape[0] = 48;
      continue;
    }
    for (auto& d : t.shape)
      if (d == 40) d = 48;
  }
  EXPECT_EQ(find_fake(ts, kGateUp0)->shape, (std::vector<int64_t>{6, 48, 48}));
  EXPECT_EQ(find_fake(ts, "model.language_model.layers.0.self_attn.q_proj.weight")->shape,
            (std::vector<int64_t>{48, 48}));
  TempDir tmp;
  auto v = validate(tmp, cfg, ts);
  const auto& r = v.report;
  EXPECT_EQ(r.problems.size(), 2u) << problems_text(r);  // gate_up of layers 0 and 2
  EXPECT_EQ(r.ambiguous, 2u);
  EXPECT_TRUE(has_problem(r, kGateUp0 + ": expert orientation cannot be decided: hidden_size == 2 * "
                                        "moe_intermediate_size (48) makes [E, H, 2I] and [E, 2I, H] the same shape "
                                        "[6, 48, 48]; refusing rather than guessing"))
      << problems_text(r);
  EXPECT_FALSE(r.expert_orientation.count(kGateUp0));
  EXPECT_EQ(r.expert_orientation.at(kDown0), ExpertOrientation::kInOut);  // [6, 24, 48] is unambiguous
}

// hidden 40 == expert width 40: down_proj [E, 40, 40] fits both orientations.
TEST(Validation, AmbiguousDownRefused) {
  json cfg = tiny_config_json();
  cfg["text_config"]["moe_intermediate_size"] = 40;
  auto ts = tiny_tensors();
  for (const auto& n : {kGateUp0, kGateUp2}) find_fake(ts, n)->shape = {6, 40, 80};
  for (const auto& n : {kDown0, kDown2}) find_fake(ts, n)->shape = {6, 40, 40};
  TempDir tmp;
  auto v = validate(tmp, cfg, ts);
  const auto& r = v.report;
  EXPECT_EQ(r.ambiguous, 2u) << problems_text(r);
  EXPECT_EQ(r.problems.size(), 2u) << problems_text(r);
  EXPECT_TRUE(has_problem(r, kDown2 + ": expert orientation cannot be decided: hidden_size == moe_intermediate_size "
                                      "(40) makes [E, I, H] and [E, H, I] the same shape [6, 40, 40]; refusing "
                                      "rather than guessing"))
      << problems_text(r);
  EXPECT_EQ(r.expert_orientation.at(kGateUp2), ExpertOrientation::kInOut);
  EXPECT_EQ(r.summary(), tmp.file("model") + ": 2 problems: 2 ambiguous expert orientation");
}

TEST(Validation, TiedEmbeddingsAllowAnAbsentLmHead) {
  json cfg = tiny_config_json();
  cfg["tie_word_embeddings"] = true;
  auto ts = tiny_tensors();
  testing::erase_fake(ts, "lm_head.weight");
  TempDir tmp;
  auto v = validate(tmp, cfg, ts);
  EXPECT_TRUE(v.report.ok()) << problems_text(v.report);
  EXPECT_EQ(v.report.checked, 74u);

  // Untied: the same checkpoint lacks its head.
  TempDir tmp2;
  auto v2 = validate(tmp2, tiny_config_json(), ts);
  EXPECT_EQ(v2.report.problems, (std::vector<std::string>{"lm_head.weight: missing (expected shape [64, 40])"}));
}

TEST(Validation, NoDeclaredDtypeMeansDtypesAreNotCompared) {
  json cfg = tiny_config_json();
  cfg["text_config"].erase("dtype");
  auto ts = tiny_tensors();
  find_fake(ts, "model.visual.pos_embed.weight")->dtype = "F16";
  TempDir tmp;
  auto v = validate(tmp, cfg, ts);
  EXPECT_TRUE(v.report.ok()) << problems_text(v.report);
}

TEST(Validation, ShardedTinyCheckpoint) {
  const auto all = tiny_tensors();
  std::vector<std::vector<FakeTensor>> shards(3);
  for (size_t i = 0; i < all.size(); ++i) shards[i % 3].push_back(all[i]);
  TempDir tmp;
  const std::string dir = tmp.sub("model");
  testing::write_file(dir + "/config.json", tiny_config_json().dump());
  testing::write_sharded(dir, shards);
  auto cfg = load_model_config(dir);
  ASSERT_TRUE(cfg.ok()) << cfg.message();
  auto ckpt = Checkpoint::open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.message();
  EXPECT_EQ(ckpt->shards().size(), 3u);
  const auto report = validate_checkpoint(*ckpt, build_tensor_schema(*cfg), cfg->dtype);
  EXPECT_TRUE(report.ok()) << problems_text(report);
  const auto contents = describe_contents(*ckpt);
  EXPECT_EQ(contents.tensor_count, 75u);
  EXPECT_EQ(contents.shard_count, 3u);
  EXPECT_EQ(contents.tensor_bytes, 102'416u * 4);
  EXPECT_EQ(contents.tensors_by_dtype.at(DType::kF32), 75u);
}

}  // namespace
}  // namespace ql::model
