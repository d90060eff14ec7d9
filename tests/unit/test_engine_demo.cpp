// The Engine API on the demo model (resources/demo-model: real vocabulary,
// random weights, the installed tokenizer): KV-cache reuse across turns held
// to transformers' reference tokens, stop() from another thread (measured),
// cancelled loads, streaming, seeds, metrics and the context limit.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "core/engine/engine.h"
#include "core/text/tokenizer.h"
#include "core/text/utf8.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::engine;
using namespace ql::engine::testing;
using Clock = std::chrono::steady_clock;
using Ids = std::vector<int32_t>;

Ids ids_of(const nlohmann::json& j) { return j.get<Ids>(); }

LoadOptions with_context(int64_t tokens) {
  LoadOptions o;
  o.context_tokens = tokens;
  return o;
}

class DemoEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = read_cases("demo");
    ASSERT_FALSE(cases_.is_discarded());
    engine_ = std::make_unique<Engine>(&ql::imageio::decode_image_file);
    auto st = engine_->load(demo_model_dir());
    ASSERT_TRUE(st.ok()) << st.message();
  }
  const nlohmann::json& ref(const std::string& name) {
    const nlohmann::json* c = find_case(cases_, name);
    EXPECT_NE(c, nullptr) << name;
    return *c;
  }
  static GenerationRequest greedy(Conversation c, int64_t max_new_tokens = 12) {
    GenerationRequest r;
    r.prompt = std::move(c);
    r.sampling.temperature = 0;
    r.max_new_tokens = max_new_tokens;
    r.ignore_eos = true;
    return r;
  }
  static Conversation what_is_in(const std::string& image) {
    return {{Message::user("What is in this picture?", {ImageInput::file(engine_image(image))})}};
  }
  nlohmann::json cases_;
  std::unique_ptr<Engine> engine_;
};

// turn 2 of cases-demo.json "two_turn_image_second" after a first turn: the
// first turn's prompt (its 10 tokens: <|im_start|>user\nHello!<|im_end|>\n
// <|im_start|>assistant\n) comes from the cache and the answer is still
// transformers' full-recompute answer.
TEST_F(DemoEngine, SecondTurnReusesTheCacheAndMatchesTheReference) {
  auto first = engine_->generate(greedy({{Message::user("Hello!")}}, 4));
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_EQ(first->reused_tokens, 0);

  const auto& c = ref("two_turn_image_second");
  Conversation two_turns{{Message::user("Hello!"), Message::assistant("Hi, how can I help?"),
                          Message::user("What color dominates?", {ImageInput::file(engine_image("img_d_90x90.png"))})}};
  auto second = engine_->generate(greedy(two_turns));
  ASSERT_TRUE(second.ok()) << second.message();
  EXPECT_EQ(second->prompt_ids, ids_of(c["input_ids"]));
  EXPECT_EQ(second->reused_tokens, 10);
  EXPECT_EQ(second->metrics.prefilled_tokens, static_cast<int64_t>(c["input_ids"].size()) - 10);
  EXPECT_EQ(second->generated_ids, ids_of(c["greedy"]));

  // The same conversation again: everything but the last prompt token, the image included, is reused.
  auto again = engine_->generate(greedy(two_turns));
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(again->reused_tokens, static_cast<int64_t>(c["input_ids"].size()) - 1);
  EXPECT_EQ(again->generated_ids, ids_of(c["greedy"]));
}

// img_d and img_a both give 16x16 patch grids, so their pad ids are equal;
// only the pixels tell them apart.
TEST_F(DemoEngine, AnotherImageOfTheSameSizeIsNotTakenFromTheCache) {
  auto other = engine_->generate(greedy(what_is_in("img_d_90x90.png"), 2));
  ASSERT_TRUE(other.ok()) << other.message();
  auto r = engine_->generate(greedy(what_is_in("img_a_64x64.png")));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->reused_tokens, 3);  // <|im_start|>user\n, up to the image's <|vision_start|>
  EXPECT_EQ(r->generated_ids, ids_of(ref("one_image")["greedy"]));
}

TEST_F(DemoEngine, StopFromAnotherThreadEndsGenerationWithin100ms) {
  GenerationRequest r = greedy(what_is_in("img_a_64x64.png"), 1'000'000);
  std::atomic<int> tokens{0};
  Clock::time_point stop_time;
  std::thread stopper([&] {
    while (tokens.load() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop_time = Clock::now();
    engine_->stop();
  });
  auto result = engine_->generate(r, [&](const StreamedToken&) { tokens.fetch_add(1); });
  const Clock::time_point returned = Clock::now();
  stopper.join();
  ASSERT_TRUE(result.ok()) << result.message();
  const double ms = std::chrono::duration<double, std::milli>(returned - stop_time).count();
  std::printf("stop() -> generate returned: %.2f ms after %zu tokens\n", ms, result->generated_ids.size());
  EXPECT_EQ(result->stop_reason, StopReason::kStopped);
  EXPECT_LT(ms, 100.0);
  EXPECT_GE(result->generated_ids.size(), 20u);

  // A stop() with nothing running does not affect the next request.
  engine_->stop();
  auto next = engine_->generate(greedy(what_is_in("img_a_64x64.png")));
  ASSERT_TRUE(next.ok()) << next.message();
  EXPECT_EQ(next->stop_reason, StopReason::kMaxTokens);
  EXPECT_EQ(next->generated_ids, ids_of(ref("one_image")["greedy"]));
}

// A large image makes a long prefill (vision tower over 4096 patches, then
// 1024 image tokens; the demo's own limit would shrink it, so a copy allows
// 1024x1024); stop() lands in the middle of it.
TEST_F(DemoEngine, StopDuringPrefillEndsWithin100ms) {
  ScratchDir dir;
  ASSERT_TRUE(engine_->load(demo_model_with_max_pixels(dir, 1024 * 1024)).ok());
  const ql::vision::ImageRGB8 noise = noise_picture(1024);
  GenerationRequest r = greedy({{Message::user("Describe it.", {ImageInput::decoded(noise, "noise")})}});
  Clock::time_point stop_time;
  std::thread stopper([&] {
    // prompt_tokens is set when the prompt is ready, just before the prefill starts.
    while (engine_->metrics().prompt_tokens == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // well inside a prefill of ~300 ms or more
    stop_time = Clock::now();
    engine_->stop();
  });
  const Clock::time_point start = Clock::now();
  auto result = engine_->generate(r);
  const Clock::time_point returned = Clock::now();
  stopper.join();
  ASSERT_TRUE(result.ok()) << result.message();
  const double ms = std::chrono::duration<double, std::milli>(returned - stop_time).count();
  std::printf("stop() during prefill -> generate returned: %.2f ms (request took %.0f ms)\n", ms,
              std::chrono::duration<double, std::milli>(returned - start).count());
  EXPECT_EQ(result->stop_reason, StopReason::kStopped);
  EXPECT_TRUE(result->generated_ids.empty());
  EXPECT_LT(ms, 100.0);
  // The cancelled prefill left the cache as it was: the next request runs normally.
  auto next = engine_->generate(greedy(what_is_in("img_a_64x64.png")));
  ASSERT_TRUE(next.ok()) << next.message();
  EXPECT_EQ(next->generated_ids, ids_of(ref("one_image")["greedy"]));
}

TEST_F(DemoEngine, CancelledLoadKeepsThePreviousModel) {
  int calls = 0;
  auto st = engine_->load(data_path("engine/tiny-b"), {}, [&](double, const std::string&) {
    if (++calls == 3) engine_->stop();  // from the progress callback: the load is on its way
  });
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Engine::is_cancelled(st.error())) << st.message();
  const auto info = engine_->info();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->dir, demo_model_dir());
  auto r = engine_->generate(greedy(what_is_in("img_a_64x64.png")));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->generated_ids, ids_of(ref("one_image")["greedy"]));
}

TEST_F(DemoEngine, FailedLoadKeepsThePreviousModel) {
  auto st = engine_->load(data_path("engine/no-such-model"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no-such-model"), std::string::npos) << st.message();
  ASSERT_TRUE(engine_->info().has_value());
  EXPECT_EQ(engine_->info()->dir, demo_model_dir());
}

TEST_F(DemoEngine, StreamedPiecesAreWholeCharactersAndJoinToTheText) {
  GenerationRequest r = greedy(what_is_in("img_a_64x64.png"), 80);
  r.sampling.temperature = 1.0;  // sampled: many different tokens, split characters included
  r.sampling.top_k = 0;
  r.sampling.top_p = 1.0;
  r.sampling.seed = 3;
  std::string joined;
  size_t pieces = 0;
  auto result = engine_->generate(r, [&](const StreamedToken& t) {
    EXPECT_TRUE(ql::text::is_valid_utf8(t.text)) << "after token " << t.id;
    joined += t.text;
    ++pieces;
  });
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_GE(pieces, result->generated_ids.size());
  EXPECT_EQ(joined, result->text);
  auto tok = ql::text::Tokenizer::load(QL_DEFAULT_TOKENIZER);
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(result->text, tok->decode(result->generated_ids, /*skip_special=*/true));
}

TEST_F(DemoEngine, SeedDecidesSampledTokens) {
  auto run = [&](uint64_t seed) {
    engine_->reset_cache();
    GenerationRequest r = greedy(what_is_in("img_a_64x64.png"), 24);
    r.sampling = {};  // plain sampling at temperature 1: a trained demo is too sure of its answer to differ
    r.sampling.temperature = 1.0;
    r.sampling.top_k = 0;
    r.sampling.top_p = 1.0;
    r.sampling.seed = seed;
    auto result = engine_->generate(r);
    EXPECT_TRUE(result.ok()) << result.message();
    EXPECT_EQ(result->seed, seed);
    return result.ok() ? result->generated_ids : Ids{};
  };
  const Ids a = run(11), b = run(11), c = run(12);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, ids_of(ref("one_image")["greedy"]));
}

TEST_F(DemoEngine, ZeroNewTokensReturnsTheRequestedLogitsOnly) {
  GenerationRequest r = greedy({{Message::user("What is the capital of France?")}}, 0);
  r.logit_rows.rows = {0, -1};
  auto result = engine_->generate(r);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_TRUE(result->generated_ids.empty());
  const auto& c = ref("text_only");
  ASSERT_EQ(result->logits.size(), 2u);
  for (const char* row : {"0", "14"}) {
    const auto& want = c["logits"][row];
    const auto& got = result->logits.at(std::stoll(row));
    ASSERT_EQ(got.size(), 151936u);
    double max_diff = 0;
    for (size_t i = 0; i < want["columns"].size(); ++i) {
      max_diff = std::max(max_diff, std::abs(got[want["columns"][i].get<size_t>()] - want["values"][i].get<double>()));
    }
    EXPECT_LE(max_diff, 1e-3) << "row " << row;
  }
}

TEST_F(DemoEngine, MetricsDescribeTheRequest) {
  Metrics during;
  std::atomic<bool> seen{false};
  auto result = engine_->generate(greedy({{Message::user("What is the capital of France?")}}, 30),
                                  [&](const StreamedToken&) {
                                    if (!seen.exchange(true)) during = engine_->metrics();
                                  });
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_TRUE(during.generating);
  EXPECT_EQ(during.generated_tokens, 1);
  const Metrics m = engine_->metrics();
  EXPECT_FALSE(m.generating);
  EXPECT_EQ(m.prompt_tokens, 15);  // cases-demo.json text_only: 15 input ids
  EXPECT_EQ(m.generated_tokens, 30);
  EXPECT_GT(m.ttft_ms, 0.0);
  EXPECT_GT(m.decode_tokens_per_s, 0.0);
  EXPECT_GT(m.mean_token_ms, 0.0);
  // The weights as stored: both shards minus their headers, so a little under their file sizes.
  uintmax_t shard_bytes = 0;
  for (const char* f : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
    shard_bytes += std::filesystem::file_size(demo_model_dir() + "/" + f);
  EXPECT_LE(m.weight_bytes, shard_bytes);
  EXPECT_GT(m.weight_bytes, shard_bytes * 99 / 100);
  EXPECT_GT(m.backend_bytes, 0u);
  // The KV cache of the default context on the CPU: fp32 K and V of every layer.
  const auto tc = engine_->info()->config.text;  // a copy: info() returns by value
  EXPECT_EQ(m.kv_cache_bytes - static_cast<size_t>(tc.vocab_size) * 4,  // minus the seen-token mask
            static_cast<size_t>(2 * tc.num_layers * tc.num_kv_heads * tc.head_dim * engine_->info()->context_tokens) * 4);
  EXPECT_GT(m.workspace_bytes, 0u);
  EXPECT_EQ(m.memory_bytes(), m.weight_bytes + m.kv_cache_bytes + m.workspace_bytes);
  EXPECT_EQ(m.device.rfind("CPU", 0), 0u) << m.device;
  EXPECT_GT(m.device_total_bytes, 0u);
}

TEST_F(DemoEngine, FullContextEndsGeneration) {
  ASSERT_TRUE(engine_->load(demo_model_dir(), with_context(20)).ok());
  auto r = engine_->generate(greedy({{Message::user("What is the capital of France?")}}, 100));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->stop_reason, StopReason::kContextFull);
  // 15 prompt tokens fill 15 of 20 rows; 5 generated tokens fill the rest, one more comes from the last logits.
  EXPECT_EQ(r->generated_ids.size(), 6u);
}

TEST_F(DemoEngine, PromptLongerThanTheContextFailsBeforeAnyWork) {
  ASSERT_TRUE(engine_->load(demo_model_dir(), with_context(40)).ok());
  auto r = engine_->generate(greedy(what_is_in("img_a_64x64.png")));
  ASSERT_FALSE(r.ok());
  const auto& c = ref("one_image");
  EXPECT_NE(r.message().find(std::to_string(case_prompt_tokens(c)) + " tokens"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find(std::to_string(case_image_tokens(c)) + " of them image tokens"), std::string::npos)
      << r.message();
  EXPECT_NE(r.message().find("context of 40 tokens"), std::string::npos) << r.message();
  EXPECT_EQ(engine_->metrics().prefilled_tokens, 0);
  EXPECT_EQ(r.error().kind, ql::ErrorKind::kInput);
}

TEST_F(DemoEngine, NothingLoadedIsAnError) {
  engine_->unload();
  EXPECT_FALSE(engine_->info().has_value());
  auto r = engine_->generate(greedy({{Message::user("hi")}}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("no model"), std::string::npos) << r.message();
}

}  // namespace
