// --precision and --vram of quantlens-cli generate and chat on the demo
// model: documented in --help, applied (bf16 is the checkpoint as stored,
// nf4 changes the logits), and refused with exit code 2 and the reason.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/engine_test_support.h"

namespace {

using namespace ql::engine::testing;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::vector<std::string> generate_args(std::vector<std::string> extra) {
  std::vector<std::string> args = {"generate",      "--model", demo_model_dir(), "--prompt",
                                   "What is the capital of France?", "--temperature", "0",
                                   "--max-new-tokens", "4", "--ignore-eos"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(EngineCliPrecision, HelpDocumentsPrecisionAndVram) {
  for (const char* command : {"generate", "chat"}) {
    auto r = run_cli({command, "--help"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "--precision")) << command;
    EXPECT_TRUE(contains(r.out, "bf16, fp16, int8, nf4-mixed, nf4, auto")) << command;
    EXPECT_TRUE(contains(r.out, "experts")) << command;
    EXPECT_TRUE(contains(r.out, "--vram")) << command;
  }
}

TEST(EngineCliPrecision, Bf16IsTheCheckpointAndNf4ChangesTheLogits) {
  auto stored = run_cli(generate_args({"--json", "--logits-rows", "-1"}));
  auto bf16 = run_cli(generate_args({"--json", "--logits-rows", "-1", "--precision", "bf16"}));
  auto nf4 = run_cli(generate_args({"--json", "--logits-rows", "-1", "--precision", "NF4"}));
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err;
  ASSERT_EQ(nf4.exit_code, 0) << nf4.err;
  const auto js = nlohmann::json::parse(stored.out), jb = nlohmann::json::parse(bf16.out),
             jn = nlohmann::json::parse(nf4.out);
  EXPECT_EQ(jb["logits"], js["logits"]);
  EXPECT_EQ(jb["generated_ids"], js["generated_ids"]);
  EXPECT_NE(jn["logits"], js["logits"]);
  EXPECT_EQ(jn["generated_ids"].size(), 4u);
}

TEST(EngineCliPrecision, VerboseSaysWhatWasLoaded) {
  auto r = run_cli(generate_args({"--precision", "nf4-mixed", "--verbose"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "precision nf4-mixed, weights ")) << r.err;
  auto chat = run_cli(
      {"chat", "--model", demo_model_dir(), "--precision", "int8", "--verbose", "--max-new-tokens", "3"}, "Hello!\n");
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_TRUE(contains(chat.err, "precision int8, weights ")) << chat.err;
  EXPECT_FALSE(chat.out.empty());
}

TEST(EngineCliPrecision, BadPrecisionsAndBudgetsExitWithTheReason) {
  auto unknown = run_cli(generate_args({"--precision", "int4"}));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.err, "valid presets: bf16, fp16, int8, nf4-mixed, nf4, auto")) << unknown.err;

  auto no_budget = run_cli(generate_args({"--precision", "auto"}));
  EXPECT_EQ(no_budget.exit_code, 2);
  EXPECT_TRUE(contains(no_budget.err, "auto needs a memory budget")) << no_budget.err;

  auto too_small = run_cli(generate_args({"--precision", "nf4", "--vram", "0.6"}));
  EXPECT_EQ(too_small.exit_code, 2);
  EXPECT_TRUE(contains(too_small.err, "precision nf4 needs")) << too_small.err;
  EXPECT_TRUE(contains(too_small.err, "budget of 0.6 GiB")) << too_small.err;
  EXPECT_TRUE(too_small.out.empty());

  auto zero = run_cli(generate_args({"--vram", "0"}));
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_TRUE(contains(zero.err, "--vram")) << zero.err;

  auto chat = run_cli({"chat", "--model", demo_model_dir(), "--precision", "experts=int3"}, "Hello!\n");
  EXPECT_EQ(chat.exit_code, 2);
  EXPECT_TRUE(contains(chat.err, "unknown format \"int3\" for experts")) << chat.err;
}

// A budget that fits: auto loads the highest preset, bf16 for a 24 GiB card,
// and says so on stderr, leaving stdout to the JSON.
TEST(EngineCliPrecision, AutoWithAGenerousBudgetLoadsBf16) {
  auto r = run_cli(generate_args({"--precision", "auto", "--vram", "24", "--verbose"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "precision bf16, weights ")) << r.err;
  auto json = run_cli(generate_args({"--precision", "auto", "--vram", "24", "--json"}));
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_TRUE(nlohmann::json::accept(json.out)) << json.out;
  EXPECT_TRUE(contains(json.err, "precision auto: bf16 fits")) << json.err;
}

}  // namespace
