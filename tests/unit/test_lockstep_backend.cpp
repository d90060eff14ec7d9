// The lockstep checker of tests/support/lockstep_backend.h, which finds the
// first GPU op that leaves the CPU's results (tests/gpu/test_gpu_op_parity),
// on two CPU backends: every op of a prefill with a picture and of the decode
// steps after it is recorded, and two identical backends agree exactly, with
// the tokens a plain CPU engine generates.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "core/backend/cpu_backend.h"
#include "core/engine/engine.h"
#include "tests/support/lockstep_backend.h"
#include "tests/support/model_test_prompts.h"

namespace {

using namespace ql::engine;
using namespace ql::test;

TokenPrompt demo_picture_prompt(const ModelInfo& info) {
  const TokenPrompt text = text_prompt("demo");
  const Ids before(text.ids.begin(), text.ids.begin() + 4);
  const Ids after(text.ids.end() - 5, text.ids.end());
  return image_prompt(info.config, info.preprocess, test_image(200, 120, 1), before, after);
}

GenerationRequest greedy(const TokenPrompt& p) {
  GenerationRequest r;
  r.prompt = p;
  r.sampling.temperature = 0;
  r.max_new_tokens = 3;
  r.ignore_eos = true;
  return r;
}

TEST(LockstepBackend, TwoCpuBackendsAgreeExactlyOnEveryOp) {
  for (const char* precision : {"bf16", "int8"}) {
    SCOPED_TRACE(precision);
    LoadOptions plain;
    plain.precision = precision;
    plain.context_tokens = 512;
    plain.backend = ql::backend::BackendChoice::kCpu;
    Engine reference;
    ASSERT_TRUE(reference.load(folder_of("demo"), plain).ok());
    const TokenPrompt prompt = demo_picture_prompt(*reference.info());
    auto expected = reference.generate(greedy(prompt));
    ASSERT_TRUE(expected.ok()) << expected.message();

    std::shared_ptr<std::vector<OpRecord>> records;
    LoadOptions o = plain;
    o.make_backend = [&records](int threads) -> ql::Result<std::unique_ptr<ql::backend::Backend>> {
      auto l = std::make_unique<LockstepBackend>(ql::backend::make_cpu_backend(threads),
                                                 ql::backend::make_cpu_backend(threads));
      records = l->records();
      return std::unique_ptr<ql::backend::Backend>(std::move(l));
    };
    Engine e;
    const auto loaded = e.load(folder_of("demo"), o);
    ASSERT_TRUE(loaded.ok()) << loaded.message();
    auto g = e.generate(greedy(prompt));
    ASSERT_TRUE(g.ok()) << g.message();
    EXPECT_EQ(g->generated_ids, expected->generated_ids);

    ASSERT_TRUE(records);
    std::set<std::string> ops;
    for (const auto& r : *records) {
      ops.insert(r.op);
      EXPECT_EQ(r.worst_row, 0.0) << r.op << " " << r.detail;
      EXPECT_EQ(r.nonfinite_mismatches, 0) << r.op << " " << r.detail;
    }
    // The picture's whole path and the text decoder's, prefill and decode.
    for (const char* op : {"linear", "layer_norm", "rope", "attention (segments)", "gelu erf", "gelu tanh",
                           "add_weighted_rows", "scatter_rows", "scatter_add_rows", "embed", "rms_norm",
                           "qk_norm_rope_cache k_cache", "attention_cached", "moe", "sample token"})
      EXPECT_TRUE(ops.count(op)) << op << " was not recorded";
  }
}

}  // namespace
