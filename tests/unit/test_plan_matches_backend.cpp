// The memory plan against what the CPU backend really allocates for the demo
// model (docs/backend-contract.md, "Element types", "Memory"): the KV cache
// exactly (fp32 K and V on this backend), the weights exactly, and the step
// arena's high-water mark after the largest steps (an image prefill, decode)
// within the plan's workspace.
#include <gtest/gtest.h>

#include "core/engine/engine.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"
#include "tests/unit/engine_test_support.h"

namespace {

using namespace ql::engine;
using namespace ql::engine::testing;

ql::vision::ImageRGB8 picture(int w, int h) {
  ql::vision::ImageRGB8 im;
  im.width = w;
  im.height = h;
  im.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<uint8_t>((i * 37) & 0xff);
  return im;
}

TEST(PlanMatchesBackend, KvCacheWeightsAndWorkspaceOfTheCpuBackend) {
  for (const char* precision : {"bf16", "nf4"}) {
    SCOPED_TRACE(precision);
    Engine e;
    LoadOptions o;
    o.precision = precision;
    o.context_tokens = 2048;
    o.backend = ql::backend::BackendChoice::kCpu;
    ASSERT_TRUE(e.load(demo_model_dir(), o).ok());
    const ModelInfo info = *e.info();

    ql::quant::PlanRequest r;
    r.context_tokens = info.context_tokens;
    r.max_image_pixels = info.preprocess.max_pixels;
    r.activation_bytes = 4;  // what this backend declares
    r.kv_element_bytes = 4;
    auto plan = ql::quant::plan_memory(info.config, ql::quant::parse_precision(precision)->policy, r);
    ASSERT_TRUE(plan.ok()) << plan.message();

    const auto before = *e.memory_info();
    // Persistent tensors: the K and V caches and the seen-token mask (an int per token id).
    const size_t seen_mask = static_cast<size_t>(info.config.text.vocab_size) * 4;
    EXPECT_EQ(before.kv_cache, plan->kv_cache_bytes + seen_mask);
    EXPECT_EQ(info.weight_bytes, plan->weights_bytes);

    // An image prompt and a few decoded tokens: the largest steps this request takes.
    GenerationRequest g;
    g.prompt = Conversation{{Message::user("What is this?", {ImageInput::decoded(picture(448, 320), "p")})}};
    g.max_new_tokens = 4;
    g.sampling.temperature = 0;
    auto result = e.generate(g);
    ASSERT_TRUE(result.ok()) << result.message();
    const auto after = *e.memory_info();
    EXPECT_GT(after.peak_workspace, 0u);
    EXPECT_LE(after.peak_workspace, plan->workspace_bytes())
        << "the arena's high-water mark " << after.peak_workspace << " exceeds the plan's workspace "
        << plan->workspace_bytes();
    // The KV cache does not grow with use.
    EXPECT_EQ(after.kv_cache, before.kv_cache);
  }
}

}  // namespace
