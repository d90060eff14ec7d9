// Plans of the tiny test model (model_test_files.h): a dense mlp_only layer,
// tied word embeddings, an fp32 checkpoint. Expected bytes by hand.
#include <gtest/gtest.h>

#include <cstdint>

#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"
#include "tests/unit/model_test_files.h"

namespace ql::quant {
namespace {

using model::Component;

model::ModelConfig tiny(bool tied) {
  nlohmann::json j = model::testing::tiny_config_json();
  j["tie_word_embeddings"] = tied;
  auto c = model::parse_model_config(j.dump(), "tiny.json");
  EXPECT_TRUE(c.ok()) << c.message();
  return c.ok() ? *c : model::ModelConfig{};
}

PrecisionPolicy policy(const char* text) {
  auto c = parse_precision(text);
  EXPECT_TRUE(c.ok()) << c.message();
  return c.ok() ? c->policy : PrecisionPolicy{};
}

TEST(QuantPlanTiny, DenseMlpLayerTakesTheExpertsFormat) {
  auto p = plan_memory(tiny(false), policy("experts=nf4"), {});
  ASSERT_TRUE(p.ok()) << p.message();
  // Layer 1: gate [56, 40], up [56, 40], down [40, 56]: 2240 elements each, in NF4
  // 1120 packed + 35 codes + 1 nested (4) + maps 1088.
  EXPECT_EQ((*p)[Component::kDenseMlp], 3u * (1120 + 35 + 4 + 1088));
  // Layers 0 and 2: 6 experts x (gate_up [48, 40] + down [40, 24]), 1920 and 960 elements.
  EXPECT_EQ((*p)[Component::kExperts], 2u * 6 * ((960 + 30 + 4 + 1088) + (480 + 15 + 4 + 1088)));
}

TEST(QuantPlanTiny, TiedHeadIsFreeUnlessItsFormatDiffers) {
  auto same = plan_memory(tiny(true), policy("bf16"), {});
  ASSERT_TRUE(same.ok()) << same.message();
  EXPECT_EQ((*same)[Component::kLmHead], 0u);
  EXPECT_EQ((*same)[Component::kEmbeddings], 64u * 40 * 2);
  // An INT8 head next to a bf16 table is a second copy: 2560 codes + 64 row scales.
  auto differs = plan_memory(tiny(true), policy("lm_head=int8"), {});
  ASSERT_TRUE(differs.ok()) << differs.message();
  EXPECT_EQ((*differs)[Component::kLmHead], 2560u + 64 * 4);
  auto untied = plan_memory(tiny(false), policy("bf16"), {});
  ASSERT_TRUE(untied.ok());
  EXPECT_EQ((*untied)[Component::kLmHead], 64u * 40 * 2);
}

TEST(QuantPlanTiny, LoadingStagesTheLargestMatrixAtTheCheckpointDtype) {
  // fp32 checkpoint; the largest matrix is a merger fc1 [96, 96] (96 = 24 x 2 x 2).
  const WorkspaceEstimate w = estimate_workspace(tiny(false), PlanRequest{});
  EXPECT_EQ(w[WorkspaceStep::kLoading], 96u * 96 * 4);
}

TEST(QuantPlanTiny, KvCacheFollowsTheConfig) {
  PlanRequest r;
  r.context_tokens = 100;
  r.batch = 3;
  // 2 x 3 layers x 2 KV heads x 12 x 100 tokens x 3 sequences x 2 bytes.
  EXPECT_EQ(kv_cache_bytes(tiny(false).text, r), 2u * 3 * 2 * 12 * 100 * 3 * 2);
}

}  // namespace
}  // namespace ql::quant
