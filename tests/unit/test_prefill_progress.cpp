// A long prompt's forward reports how far it has come (issue 12, point 8: a
// big picture with a long context ran for over a minute with no sign of
// life): one step per vision block, then one per decoder layer of every
// prefill chunk, in order, ending at 1; the engine's metrics carry the
// figure for the app; the CLI prints it on stderr with --verbose.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/model/qwen3vl_model.h"
#include "tests/unit/cli_runner.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::engine;
using namespace ql::engine::testing;

TEST(PrefillProgress, OneStepPerVisionBlockAndDecoderLayerEndingAtOne) {
  Engine engine(&ql::imageio::decode_image_file);
  ASSERT_TRUE(engine.load(demo_model_dir()).ok());
  const auto& cfg = engine.info()->config;
  std::vector<double> seen;
  GenerationRequest r;
  r.prompt = Conversation{{Message::user("What is in this picture?", {ImageInput::file(engine_image("img_d_90x90.png"))})}};
  r.sampling.temperature = 0;
  r.max_new_tokens = 2;
  r.on_prefill_progress = [&](double f) { seen.push_back(f); };
  auto result = engine.generate(r);
  ASSERT_TRUE(result.ok()) << result.message();
  // The demo prompt fits one chunk (ql::model::kPrefillChunkTokens).
  ASSERT_LT(result->metrics.prompt_tokens, ql::model::kPrefillChunkTokens);
  EXPECT_EQ(seen.size(), static_cast<size_t>(cfg.vision.depth + cfg.text.num_layers));
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i], seen[i - 1]) << "step " << i;
  ASSERT_FALSE(seen.empty());
  EXPECT_DOUBLE_EQ(seen.back(), 1.0);
  EXPECT_DOUBLE_EQ(engine.metrics().prefill_fraction, 1.0);

  // Text only, reusing nothing: the layers alone.
  engine.reset_cache();
  seen.clear();
  r.prompt = Conversation{{Message::user("Hello there.")}};
  ASSERT_TRUE(engine.generate(r).ok());
  EXPECT_EQ(seen.size(), static_cast<size_t>(cfg.text.num_layers));
}

TEST(PrefillProgress, TheCliPrintsItWithVerbose) {
  const auto r = ql::testing::run_cli({"generate", "--model", demo_model_dir(), "--prompt", "Hi.", "--max-new-tokens",
                                       "1", "--verbose"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("reading the prompt: "), std::string::npos) << r.err;
}

}  // namespace
