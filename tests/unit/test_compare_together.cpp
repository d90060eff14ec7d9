// Precisions held together when the memory planner says they fit
// (core/engine/compare_memory.h): the decision on the published
// configuration, and on the demo model a run held together giving exactly the
// figures of the same run one after another; a budget too small for all at
// once runs them one after another and says so with the numbers; a cancel
// while they are held together ends the run and leaves the engine empty.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/engine/compare.h"
#include "core/engine/compare_memory.h"
#include "core/engine/compare_plan.h"
#include "core/engine/context_limit.h"
#include "core/quant/memory_budget.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::engine;
using namespace ql::engine::testing;

const std::string kPublishedDir = data_path("../../resources/qwen3-vl-30b-a3b");

std::vector<ComparePrecision> plan_of(std::vector<std::string> names) {
  auto plan = plan_compare_precisions(names);
  EXPECT_TRUE(plan.ok()) << plan.message();
  return plan.ok() ? *plan : std::vector<ComparePrecision>{};
}

LoadOptions with_budget(double gib) {
  LoadOptions o;
  o.memory_budget_gib = gib;
  return o;
}

// As the placement messages write sizes: MiB below a GiB, GiB above.
std::string size_text(uint64_t bytes) {
  if (bytes < ql::quant::kGiB) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / ql::quant::kMiB);
  return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / ql::quant::kGiB);
}

ComparePrompt ask(const std::string& text, std::vector<ImageInput> images = {}) {
  return {text, Conversation{{Message::user(text, std::move(images))}}};
}

CompareRequest request(double budget_gib) {
  CompareRequest r;
  r.model_dir = demo_model_dir();
  r.precisions = {"bf16", "int8", "nf4"};
  r.prompts = {ask("What is the capital of France?"),
               ask("What is in this picture?", {ImageInput::file(engine_image("img_a_64x64.png"))})};
  r.tokens = 4;
  r.load.memory_budget_gib = budget_gib;
  return r;
}

TEST(CompareMemory, PublishedModelAtThreePrecisions) {
  const auto plan = plan_of({"bf16", "int8", "nf4"});
  auto small = decide_compare_memory(kPublishedDir, plan, with_budget(24));
  ASSERT_TRUE(small.ok()) << small.message();

  // Each figure is the planner's total for that precision alone, at the
  // engine's default context (4096) and the largest image.
  ql::quant::PlanRequest req;
  req.context_tokens = kDefaultContextTokens;
  req.max_image_pixels = 16777216;  // preprocessor_config.json: 4096 x 4096
  auto config = ql::model::load_model_config(kPublishedDir);
  ASSERT_TRUE(config.ok()) << config.message();
  uint64_t sum = 0, largest = 0;
  ASSERT_EQ(small->precision_bytes.size(), 3u);
  const char* names[] = {"bf16", "int8", "nf4"};
  for (size_t i = 0; i < 3; ++i) {
    auto choice = ql::quant::parse_precision(names[i]);
    ASSERT_TRUE(choice.ok());
    auto p = ql::quant::plan_memory(*config, choice->policy, req);
    ASSERT_TRUE(p.ok()) << p.message();
    EXPECT_EQ(small->precision_bytes[i], p->total_bytes()) << names[i];
    sum += p->total_bytes();
    largest = std::max(largest, p->total_bytes());
  }
  EXPECT_EQ(small->sum_bytes, sum);
  EXPECT_GT(sum, 100 * ql::quant::kGiB);  // bf16 alone is ~62 GiB
  EXPECT_EQ(small->usable_bytes, 24 * ql::quant::kGiB - ql::quant::kDeviceReserveBytes);
  EXPECT_FALSE(small->together);
  EXPECT_EQ(small->reason, fmt::format("run one after another: together they would need {}, more than the 23.50 GiB "
                                       "usable (the largest alone needs {})",
                                       size_text(sum), size_text(largest)));

  auto big = decide_compare_memory(kPublishedDir, plan, with_budget(200));
  ASSERT_TRUE(big.ok()) << big.message();
  EXPECT_TRUE(big->together);
  EXPECT_EQ(big->sum_bytes, sum);
  EXPECT_EQ(big->reason, fmt::format("held together: 3 precisions need {} of 199.50 GiB usable", size_text(sum)));
}

TEST(CompareMemory, NoBudgetMeansOneAfterAnotherAndBadInputsAreNamed) {
  const auto plan = plan_of({"bf16", "nf4"});
  auto none = decide_compare_memory("/no/such/model", plan, with_budget(0));  // nothing is read
  ASSERT_TRUE(none.ok()) << none.message();
  EXPECT_FALSE(none->together);
  EXPECT_EQ(none->reason, "run one after another: no memory budget given");

  auto bad_budget = decide_compare_memory(kPublishedDir, plan, with_budget(-3));
  ASSERT_FALSE(bad_budget.ok());
  EXPECT_NE(bad_budget.message().find("-3"), std::string::npos) << bad_budget.message();
  auto missing = decide_compare_memory("/no/such/model", plan, with_budget(24));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("/no/such/model"), std::string::npos) << missing.message();
  LoadOptions bad_context = with_budget(24);
  bad_context.context_tokens = -5;
  auto context = decide_compare_memory(kPublishedDir, plan, bad_context);
  ASSERT_FALSE(context.ok());
  EXPECT_NE(context.message().find("-5"), std::string::npos) << context.message();
}

class CompareTogetherDemo : public ::testing::Test {
 protected:
  Engine engine_{&ql::imageio::decode_image_file};
};

TEST_F(CompareTogetherDemo, HeldTogetherGivesTheFiguresOfOneAfterAnother) {
  auto together = compare_precisions(engine_, request(64));
  ASSERT_TRUE(together.ok()) << together.message();
  EXPECT_FALSE(engine_.info().has_value());  // unloaded when done
  EXPECT_FALSE(together->sequential);
  EXPECT_EQ(together->placement.rfind("held together: 3 precisions need ", 0), 0u) << together->placement;
  EXPECT_NE(together->placement.find("of 63.50 GiB usable"), std::string::npos) << together->placement;

  auto sequential = compare_precisions(engine_, request(0));
  ASSERT_TRUE(sequential.ok()) << sequential.message();
  EXPECT_TRUE(sequential->sequential);
  EXPECT_EQ(sequential->placement, "run one after another: no memory budget given");

  ASSERT_EQ(together->precisions.size(), 3u);
  ASSERT_EQ(sequential->precisions.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const PrecisionRow& t = together->precisions[i];
    const PrecisionRow& s = sequential->precisions[i];
    EXPECT_EQ(t.name, s.name);
    EXPECT_EQ(t.loaded_precision, s.loaded_precision);
    EXPECT_EQ(t.weight_bytes, s.weight_bytes);
    EXPECT_EQ(t.fidelity.kl_mean, s.fidelity.kl_mean) << t.name;
    EXPECT_EQ(t.fidelity.kl_p99, s.fidelity.kl_p99) << t.name;
    EXPECT_EQ(t.fidelity.top1_agreement, s.fidelity.top1_agreement) << t.name;
    ASSERT_EQ(t.prompts.size(), 2u);
    for (size_t j = 0; j < 2; ++j) {
      EXPECT_EQ(t.prompts[j].answer, s.prompts[j].answer) << t.name << " prompt " << j;
      EXPECT_EQ(t.prompts[j].answer_ids, s.prompts[j].answer_ids) << t.name << " prompt " << j;
      EXPECT_EQ(t.prompts[j].kl, s.prompts[j].kl) << t.name << " prompt " << j;
      EXPECT_EQ(t.prompts[j].forced_top1, s.prompts[j].forced_top1) << t.name << " prompt " << j;
      EXPECT_FALSE(t.prompts[j].answer_ids.empty());
    }
  }
  // Not a vacuous comparison: the quantized rows differ from the reference somewhere.
  EXPECT_GT(together->precisions[2].fidelity.kl_mean, 0.0);
}

TEST_F(CompareTogetherDemo, ABudgetTooSmallForAllAtOnceRunsThemOneAfterAnother) {
  const auto plan = plan_of({"bf16", "int8", "nf4"});
  auto sizes = decide_compare_memory(demo_model_dir(), plan, with_budget(64));
  ASSERT_TRUE(sizes.ok()) << sizes.message();
  const uint64_t largest = *std::max_element(sizes->precision_bytes.begin(), sizes->precision_bytes.end());
  // Room for the largest alone (each load checks its own plan), not for all three.
  const double gib =
      static_cast<double>(largest + ql::quant::kDeviceReserveBytes + 64 * ql::quant::kMiB) / ql::quant::kGiB;
  auto tight = decide_compare_memory(demo_model_dir(), plan, with_budget(gib));
  ASSERT_TRUE(tight.ok()) << tight.message();
  ASSERT_FALSE(tight->together);
  ASSERT_LT(largest, tight->usable_bytes);

  auto report = compare_precisions(engine_, request(gib));
  ASSERT_TRUE(report.ok()) << report.message();
  EXPECT_TRUE(report->sequential);
  EXPECT_EQ(report->placement, tight->reason);
  EXPECT_EQ(report->placement,
            fmt::format("run one after another: together they would need {}, more than the {} usable (the largest "
                        "alone needs {})",
                        size_text(sizes->sum_bytes), size_text(tight->usable_bytes), size_text(largest)));
  EXPECT_EQ(report->precisions.size(), 3u);
  EXPECT_FALSE(engine_.info().has_value());
}

TEST_F(CompareTogetherDemo, CancelWhileHeldTogetherEndsTheRunAndUnloads) {
  std::atomic<bool> cancel{false};
  size_t row1_tokens = 0;
  auto report = compare_precisions(
      engine_, request(64), {}, &cancel, [&](size_t row, size_t, const StreamedToken&) {
        if (row == 1 && ++row1_tokens == 1) cancel = true;  // the second engine is answering
      });
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(Engine::is_cancelled(report.error())) << report.message();
  EXPECT_LE(row1_tokens, 2u);  // the flag is seen at the next token at the latest
  EXPECT_FALSE(engine_.info().has_value());

  // While the third precision loads into its own engine.
  cancel = false;
  bool loading_third = false;
  auto during_load = compare_precisions(
      engine_, request(64),
      [&](const CompareStep& s) {
        if (s.precision == 2 && s.load_fraction > 0 && s.load_fraction < 1) {
          loading_third = true;
          cancel = true;
        }
      },
      &cancel);
  ASSERT_FALSE(during_load.ok());
  EXPECT_TRUE(loading_third);
  EXPECT_TRUE(Engine::is_cancelled(during_load.error())) << during_load.message();
  EXPECT_FALSE(engine_.info().has_value());
}

}  // namespace
