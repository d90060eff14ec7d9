// compare_precisions on the demo model (real vocabulary, random weights):
// bf16 against itself must agree exactly, and the teacher-forced rows must
// line up with the tokens they predict (held to transformers' greedy tokens
// in cases-demo.json); the built-in prompts at three precisions; the bf16
// reference added; progress, cancellation and errors naming the culprit.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

#include "core/engine/compare.h"
#include "core/engine/compare_prompts.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::engine;
using namespace ql::engine::testing;
using Ids = std::vector<int32_t>;
using Clock = std::chrono::steady_clock;

CompareRequest request(std::vector<std::string> precisions, std::vector<ComparePrompt> prompts, int64_t tokens) {
  CompareRequest r;
  r.model_dir = demo_model_dir();
  r.precisions = std::move(precisions);
  r.prompts = std::move(prompts);
  r.tokens = tokens;
  return r;
}

ComparePrompt ask(const std::string& text, std::vector<ImageInput> images = {}) {
  return {text, Conversation{{Message::user(text, std::move(images))}}};
}

// The conversations of cases-demo.json "text_only" and "one_image".
std::vector<ComparePrompt> case_prompts() {
  return {ask("What is the capital of France?"),
          ask("What is in this picture?", {ImageInput::file(engine_image("img_a_64x64.png"))})};
}

class DemoCompare : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = read_cases("demo");
    ASSERT_FALSE(cases_.is_discarded());
  }
  Ids greedy(const std::string& name) { return (*find_case(cases_, name))["greedy"].get<Ids>(); }
  size_t prompt_tokens(const std::string& name) { return (*find_case(cases_, name))["input_ids"].size(); }

  nlohmann::json cases_;
  Engine engine_{&ql::imageio::decode_image_file};
};

TEST_F(DemoCompare, Bf16AgainstItselfAgreesExactlyAndForcedRowsLineUp) {
  std::vector<std::pair<size_t, size_t>> prompt_steps;
  std::vector<size_t> loading;
  auto report = compare_precisions(engine_, request({"bf16", "bf16"}, case_prompts(), 12), [&](const CompareStep& s) {
    EXPECT_EQ(s.precision_count, 2u);
    EXPECT_EQ(s.prompt_count, 2u);
    if (s.load_fraction < 1) loading.push_back(s.precision);
    else if (s.prompt < s.prompt_count) prompt_steps.emplace_back(s.precision, s.prompt);
  });
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_FALSE(engine_.info().has_value());  // unloaded when done
  EXPECT_EQ(prompt_steps, (std::vector<std::pair<size_t, size_t>>{{0, 0}, {0, 1}, {1, 0}, {1, 1}}));
  EXPECT_NE(std::find(loading.begin(), loading.end(), 0u), loading.end());
  EXPECT_NE(std::find(loading.begin(), loading.end(), 1u), loading.end());

  EXPECT_EQ(report->reference, "bf16");
  EXPECT_TRUE(report->sequential);
  ASSERT_EQ(report->prompts.size(), 2u);
  const char* names[] = {"text_only", "one_image"};
  for (size_t j = 0; j < 2; ++j) {
    EXPECT_EQ(report->prompts[j].prompt_tokens, static_cast<int64_t>(prompt_tokens(names[j])));
    EXPECT_EQ(report->prompts[j].positions, 12);
  }
  ASSERT_EQ(report->precisions.size(), 2u);
  const PrecisionRow& ref = report->precisions[0];
  const PrecisionRow& again = report->precisions[1];
  EXPECT_TRUE(ref.reference);
  EXPECT_FALSE(again.reference);
  for (size_t j = 0; j < 2; ++j) {
    // The reference's answer is transformers' greedy answer, and the argmax of
    // the teacher-forced row before each continuation token is that token:
    // row (prompt length - 1 + k) was compared for token k, not its neighbour.
    EXPECT_EQ(ref.prompts[j].answer_ids, greedy(names[j])) << names[j];
    EXPECT_EQ(ref.prompts[j].forced_top1, greedy(names[j])) << names[j];
    EXPECT_EQ(again.prompts[j].answer_ids, ref.prompts[j].answer_ids);
    EXPECT_EQ(again.prompts[j].answer, ref.prompts[j].answer);
    EXPECT_FALSE(again.prompts[j].answer.empty());
    ASSERT_EQ(again.prompts[j].kl.size(), 12u);
    for (double kl : again.prompts[j].kl) EXPECT_LT(kl, 1e-9);
  }
  EXPECT_EQ(again.fidelity.positions, 24);
  EXPECT_LT(again.fidelity.kl_mean, 1e-9);
  EXPECT_LT(again.fidelity.kl_p99, 1e-9);
  EXPECT_EQ(again.fidelity.top1_agreement, 1.0);
  EXPECT_EQ(again.weight_bytes, ref.weight_bytes);
  EXPECT_GT(again.decode_tok_s, 0);
  EXPECT_GT(again.ttft_ms, 0);
}

TEST_F(DemoCompare, BuiltinPromptsAtThreePrecisions) {
  const auto prompts = builtin_compare_prompts(resource_image(""));
  const auto start = Clock::now();
  auto report = compare_precisions(engine_, request({"bf16", "int8", "nf4"}, prompts, kDefaultCompareTokens));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_TRUE(report.ok()) << report.message();
  ASSERT_EQ(report->precisions.size(), 3u);
  int64_t positions = 0;
  for (const auto& p : report->prompts) {
    EXPECT_GT(p.positions, 0);
    EXPECT_LE(p.positions, kDefaultCompareTokens);
    positions += p.positions;
  }
  const char* names[] = {"bf16", "int8", "nf4"};
  for (size_t i = 0; i < 3; ++i) {
    const PrecisionRow& row = report->precisions[i];
    EXPECT_EQ(row.name, names[i]);
    EXPECT_EQ(row.reference, i == 0);
    EXPECT_EQ(row.fidelity.positions, positions);
    EXPECT_TRUE(std::isfinite(row.fidelity.kl_mean) && row.fidelity.kl_mean >= 0) << row.fidelity.kl_mean;
    EXPECT_TRUE(std::isfinite(row.fidelity.kl_p99) && row.fidelity.kl_p99 >= 0) << row.fidelity.kl_p99;
    EXPECT_GE(row.fidelity.top1_agreement, 0.0);
    EXPECT_LE(row.fidelity.top1_agreement, 1.0);
    EXPECT_GT(row.weight_bytes, 0u);
    EXPECT_GT(row.decode_tok_s, 0);
    EXPECT_GT(row.ttft_ms, 0);
    ASSERT_EQ(row.prompts.size(), prompts.size());
    for (size_t j = 0; j < prompts.size(); ++j) {
      EXPECT_FALSE(row.prompts[j].answer_ids.empty());
      EXPECT_EQ(static_cast<int64_t>(row.prompts[j].kl.size()), report->prompts[j].positions);
      EXPECT_EQ(static_cast<int64_t>(row.prompts[j].forced_top1.size()), report->prompts[j].positions);
    }
    std::printf("demo %-5s loaded as '%s': KL mean %.3g, p99 %.3g, top-1 %.3f, %.1f MiB, %.0f tok/s, TTFT %.0f ms\n",
                names[i], row.loaded_precision.c_str(), row.fidelity.kl_mean, row.fidelity.kl_p99,
                row.fidelity.top1_agreement, row.weight_bytes / 1048576.0, row.decode_tok_s, row.ttft_ms);
  }
  EXPECT_EQ(report->precisions[0].fidelity.kl_mean, 0.0);
  EXPECT_EQ(report->precisions[0].fidelity.top1_agreement, 1.0);
  std::printf("built-in prompts (%zu), %lld tokens, 3 precisions: %.1f s\n", prompts.size(),
              static_cast<long long>(kDefaultCompareTokens), seconds);
}

TEST_F(DemoCompare, Bf16ReferenceIsAddedWhenNoneIsListed) {
  auto report = compare_precisions(engine_, request({"int8"}, {ask("Hello!")}, 4));
  ASSERT_TRUE(report.ok()) << report.message();
  ASSERT_EQ(report->precisions.size(), 2u);
  EXPECT_EQ(report->reference, "bf16");
  EXPECT_EQ(report->precisions[0].name, "bf16");
  EXPECT_TRUE(report->precisions[0].reference);
  EXPECT_TRUE(report->precisions[0].added);
  EXPECT_EQ(report->precisions[1].name, "int8");
  EXPECT_FALSE(report->precisions[1].added);
}

TEST_F(DemoCompare, CancelFlagStopsBeforeTheNextStep) {
  std::atomic<bool> cancel{false};
  size_t prompts_started = 0;
  auto report = compare_precisions(
      engine_, request({"bf16", "int8"}, case_prompts(), 4),
      [&](const CompareStep& s) {
        if (s.load_fraction == 1 && s.prompt < s.prompt_count) ++prompts_started;
        if (s.precision == 1 && s.prompt == 0) cancel = true;
      },
      &cancel);
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(Engine::is_cancelled(report.error())) << report.message();
  EXPECT_EQ(prompts_started, 3u);  // both of bf16; int8's first is announced, then the flag ends it
  EXPECT_FALSE(engine_.info().has_value());
}

TEST_F(DemoCompare, CancelWhileLoading) {
  std::atomic<bool> cancel{false};
  auto report = compare_precisions(
      engine_, request({"bf16"}, case_prompts(), 4),
      [&](const CompareStep& s) {
        if (s.load_fraction > 0 && s.load_fraction < 1) cancel = true;
      },
      &cancel);
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(Engine::is_cancelled(report.error())) << report.message();
}

// Another thread sets the flag and calls stop() in the middle of a long request: a 1024x1024
// picture (1,024 image tokens, through a copy of the demo that allows such pictures), whose
// prefill lasts however short the answer would be.
TEST_F(DemoCompare, CancelFromAnotherThreadEndsWithin100ms) {
  ScratchDir dir;
  const ql::vision::ImageRGB8 noise = noise_picture(1024);
  CompareRequest req = request({"bf16"}, {ask("Describe it.", {ImageInput::decoded(noise, "noise")})}, 3000);
  req.model_dir = demo_model_with_max_pixels(dir, 1024 * 1024);
  std::atomic<bool> cancel{false}, answering{false};
  Clock::time_point stop_time;
  std::thread canceller([&] {
    while (!answering.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // inside the prefill
    stop_time = Clock::now();
    cancel = true;
    engine_.stop();
  });
  auto report = compare_precisions(
      engine_, req,
      [&](const CompareStep& s) {
        if (s.load_fraction == 1 && s.prompt == 0) answering = true;
      },
      &cancel);
  const Clock::time_point returned = Clock::now();
  canceller.join();
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(Engine::is_cancelled(report.error())) << report.message();
  const double ms = std::chrono::duration<double, std::milli>(returned - stop_time).count();
  std::printf("cancel -> compare returned: %.2f ms\n", ms);
  EXPECT_LT(ms, 100.0);
}

TEST_F(DemoCompare, ErrorsNameThePrecisionAndThePrompt) {
  auto prompts = case_prompts();
  prompts.push_back(ask("And this one?", {ImageInput::file(engine_image("no-such-picture.png"))}));
  auto missing_image = compare_precisions(engine_, request({"bf16"}, prompts, 2));
  ASSERT_FALSE(missing_image.ok());
  EXPECT_EQ(missing_image.message().rfind("bf16, prompt 3: ", 0), 0u) << missing_image.message();
  EXPECT_NE(missing_image.message().find("no-such-picture.png"), std::string::npos) << missing_image.message();
  EXPECT_FALSE(engine_.info().has_value());

  auto bad_model = request({"int8"}, case_prompts(), 2);
  bad_model.model_dir = data_path("engine/no-such-model");
  auto no_model = compare_precisions(engine_, bad_model);
  ASSERT_FALSE(no_model.ok());
  EXPECT_EQ(no_model.message().rfind("bf16: ", 0), 0u) << no_model.message();
  EXPECT_NE(no_model.message().find("no-such-model"), std::string::npos) << no_model.message();

  auto bad_precision = compare_precisions(engine_, request({"bf16", "int3"}, case_prompts(), 2));
  ASSERT_FALSE(bad_precision.ok());
  EXPECT_NE(bad_precision.message().find("int3"), std::string::npos) << bad_precision.message();
  EXPECT_FALSE(compare_precisions(engine_, request({"bf16"}, case_prompts(), 0)).ok());
  EXPECT_FALSE(compare_precisions(engine_, request({"bf16"}, {}, 2)).ok());
}

}  // namespace
