// The workspace estimate of the published config, step by step, by hand from
// the formulas documented in workspace_estimate.cpp: activations at the
// request's element size (4 bytes by default: both backends compute in fp32),
// scores / router probabilities / logits / indices 4 bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/model/model_config.h"
#include "core/quant/memory_plan.h"
#include "core/quant/workspace_estimate.h"

namespace ql::quant {
namespace {

// Text layer buffers per token row (published: H 2048, 32 x 128 q, 4 x 128 k and v, 8 of 128 experts, I 768):
// residual + normed + q + k + v + the normed k + attention out + rope cos/sin, then the MoE's router
// logits, top-8 ids, weights and pair indices, the 8 input rows, gate_up, silu*up and down outputs.
constexpr uint64_t kAttentionRow = 2048 + 2048 + 4096 + 512 + 512 + 512 + 4096 + 2 * 128;
constexpr uint64_t kMoeRow = 128 + 4 * 8 + 8 * 2048 + 8 * 1536 + 8 * 768 + 8 * 2048;
// 4 bytes per activation; fp32 router probabilities (128) and top-8 weights and ids; 32 bytes of inputs.
constexpr uint64_t kTextRowBytes = 4 * (kAttentionRow + kMoeRow) + 4 * (128 + 8 + 8) + 32;
// fp32 logits of one row plus the sampler's copy, and the row's gathered and normed hidden state.
constexpr uint64_t kLogitRowBytes = 2 * 151936 * 4 + 2 * 2048 * 4;

class PlanWorkspacePublished : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = model::load_model_config(std::string(QL_TEST_DATA) + "/qwen3-vl-30b-a3b");
    ASSERT_TRUE(c.ok()) << c.message();
    config_ = *c;
  }
  model::ModelConfig config_;
};

TEST_F(PlanWorkspacePublished, LargestImageIs65536Patches) {
  // max_pixels 16,777,216 = 4096^2: a 4096 x 4096 image, 256 x 256 patches of 16 px.
  EXPECT_EQ(max_image_patches(config_.vision, 16'777'216), 65'536);
  // 1,003,520 pixels = 980 tiles of 32 x 32, 4 patches each.
  EXPECT_EQ(max_image_patches(config_.vision, 1'003'520), 3'920);
  EXPECT_EQ(max_image_patches(config_.vision, 1000), 4);  // never below one 32 x 32 tile
}

TEST_F(PlanWorkspacePublished, DecodeAtBatchOne) {
  const WorkspaceEstimate w = estimate_workspace(config_, PlanRequest{});
  // One row, scores of one head against 8192 keys in fp32, logits of one row.
  EXPECT_EQ(w[WorkspaceStep::kDecode], kTextRowBytes + 8192 * 4 + kLogitRowBytes);
}

TEST_F(PlanWorkspacePublished, DecodeGrowsWithBatchAndContext) {
  PlanRequest r;
  r.batch = 16;
  r.context_tokens = 4096;
  const WorkspaceEstimate w = estimate_workspace(config_, r);
  EXPECT_EQ(w[WorkspaceStep::kDecode], 16 * kTextRowBytes + 16 * 4096 * 4 + 16 * kLogitRowBytes);
}

TEST_F(PlanWorkspacePublished, PrefillOfOneChunk) {
  const WorkspaceEstimate w = estimate_workspace(config_, PlanRequest{});
  // 2048 rows; scores of one head: 2048 queries x 8192 keys fp32; the last row's logits; the
  // largest image's 16,384 tokens capped at the 8192-token context, each with the merged
  // embedding and 3 DeepStack features of 2048 values, 4 bytes each.
  EXPECT_EQ(w[WorkspaceStep::kPrefill],
            2048 * kTextRowBytes + 2048ull * 8192 * 4 + kLogitRowBytes + 8192ull * 4 * 2048 * 4);
  PlanRequest short_context;
  short_context.context_tokens = 1000;  // the chunk shrinks to the context
  EXPECT_EQ(estimate_workspace(config_, short_context)[WorkspaceStep::kPrefill],
            1000 * kTextRowBytes + 1000ull * 1000 * 4 + kLogitRowBytes + 1000ull * 4 * 2048 * 4);
  // 2-byte activations (a 16-bit backend) halve the activation parts.
  PlanRequest half;
  half.activation_bytes = 2;
  EXPECT_LT(estimate_workspace(config_, half)[WorkspaceStep::kPrefill], w[WorkspaceStep::kPrefill]);
}

TEST_F(PlanWorkspacePublished, VisionTowerOnTheLargestImage) {
  const WorkspaceEstimate w = estimate_workspace(config_, PlanRequest{});
  // Per patch: 1536 pixel values (3 x 2 x 16 x 16); hidden, normed, attention out, q, k, v (6 x 1152),
  // the MLP's two 4304-wide intermediates, rope cos/sin 2 x 72, 4 tap weights, at 4 bytes; 4 tap indices.
  constexpr uint64_t per_patch = 4 * (1536 + 6 * 1152 + 2 * 4304 + 2 * 72 + 4) + 4 * 4;
  // Scores of one head: 2048 queries x 65,536 keys fp32 (the CPU's attention).
  constexpr uint64_t scores = 2048ull * 65536 * 4;
  // Per merged token (16,384), the merger running: normed input, fc1 and GELU outputs of 4608, at 4 bytes.
  constexpr uint64_t mergers = 16384ull * 4 * 3 * 4608;
  EXPECT_EQ(w[WorkspaceStep::kVision], 65536 * per_patch + scores + mergers);
  EXPECT_EQ(w.largest(), WorkspaceStep::kVision);
  EXPECT_EQ(w.peak(), w[WorkspaceStep::kVision]);
}

TEST_F(PlanWorkspacePublished, LoadingHoldsTheLargestSourceMatrix) {
  // The embedding table (151,936 x 2048 bf16) is larger than any one expert matrix.
  EXPECT_EQ(estimate_workspace(config_, PlanRequest{})[WorkspaceStep::kLoading], 151936ull * 2048 * 2);
}

TEST_F(PlanWorkspacePublished, SmallerImagesShrinkTheVisionStep) {
  PlanRequest r;
  r.max_image_pixels = 1'003'520;  // 3920 patches, 980 merged tokens
  const WorkspaceEstimate w = estimate_workspace(config_, r);
  constexpr uint64_t per_patch = 4 * (1536 + 6 * 1152 + 2 * 4304 + 2 * 72 + 4) + 4 * 4;
  EXPECT_EQ(w[WorkspaceStep::kVision], 3920 * per_patch + 2048ull * 3920 * 4 + 980ull * 4 * 3 * 4608);
  // With that image the largest step is a prefill chunk of 2048 tokens (fp32 activations).
  EXPECT_LT(w[WorkspaceStep::kVision], w[WorkspaceStep::kPrefill]);
  EXPECT_EQ(w.largest(), WorkspaceStep::kPrefill);
}

}  // namespace
}  // namespace ql::quant
