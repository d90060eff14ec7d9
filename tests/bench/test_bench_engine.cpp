// Interactive speed of the demo model on this machine's CPU: a one-image
// question (resources/images/shapes.png) must show its first token within
// 1 s of the request and then stream at least 30 tokens/s. Timed here with
// the test's own clock at the token callback (the engine's metrics are
// printed beside it, not trusted for the verdict).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "core/engine/engine.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::engine;
using Clock = std::chrono::steady_clock;

constexpr double kMaxFirstTokenMs = 1000.0;
constexpr double kMinDecodeTokensPerS = 30.0;
constexpr int kTokens = 64;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

TEST(EngineBench, DemoModelAnswersAnImageQuestionInteractively) {
  const std::string root = std::string(QL_TEST_DATA) + "/../../resources";
  Engine engine(&ql::imageio::decode_image_file);
  const Clock::time_point load_start = Clock::now();
  auto st = engine.load(root + "/demo-model");
  ASSERT_TRUE(st.ok()) << st.message();
  std::printf("load: %.1f ms on %s\n", ms_between(load_start, Clock::now()), engine.info()->backend_name.c_str());

  GenerationRequest r;
  r.prompt = Conversation{
      {Message::user("What shapes are in this picture?", {ImageInput::file(root + "/images/shapes.png")})}};
  r.sampling.seed = 1;  // the model's own sampling defaults (generation_config.json)
  r.max_new_tokens = kTokens;
  r.ignore_eos = true;  // a fixed number of tokens to time

  std::vector<Clock::time_point> token_times;
  const Clock::time_point start = Clock::now();
  auto result = engine.generate(r, [&](const StreamedToken& t) {
    if (t.id != kFlushTokenId) token_times.push_back(Clock::now());
  });
  ASSERT_TRUE(result.ok()) << result.message();
  ASSERT_EQ(token_times.size(), static_cast<size_t>(kTokens));

  const double first_token_ms = ms_between(start, token_times.front());
  const double decode_s = ms_between(token_times.front(), token_times.back()) / 1000.0;
  const double tokens_per_s = (kTokens - 1) / decode_s;
  const Metrics& m = result->metrics;
  const auto image_tokens = std::count(result->prompt_ids.begin(), result->prompt_ids.end(),
                                      static_cast<int32_t>(engine.info()->config.image_token_id));
  std::printf("prompt %lld tokens (%lld image tokens)\n", static_cast<long long>(m.prompt_tokens),
              static_cast<long long>(image_tokens));
  std::printf("first token: %.1f ms (limit %.0f ms; engine metrics say %.1f ms)\n", first_token_ms,
              kMaxFirstTokenMs, m.ttft_ms);
  std::printf("decode: %.1f tokens/s over %d tokens (limit >= %.0f; engine metrics say %.1f)\n", tokens_per_s,
              kTokens - 1, kMinDecodeTokensPerS, m.decode_tokens_per_s);
  std::printf("memory: %.1f MiB backend + %.1f MiB weights\n", m.backend_bytes / 1048576.0,
              m.weight_bytes / 1048576.0);
  EXPECT_LT(first_token_ms, kMaxFirstTokenMs);
  EXPECT_GE(tokens_per_s, kMinDecodeTokensPerS);
}

}  // namespace
