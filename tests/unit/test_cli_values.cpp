// Values a user may type that used to mean something else silently (issue
// 12, point 8): --context 0 and --precision "" meant the defaults, --seed -1
// wrapped to 2^64 - 1. Each is refused, naming the option, before a model
// loads. Export refuses a generation_config.json that info rejects.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/unit/cli_runner.h"
#include "tests/unit/engine_test_support.h"

namespace {

using ql::engine::testing::demo_model_dir;
using ql::engine::testing::ScratchDir;
namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(CliValues, ZeroContextEmptyPrecisionAndNegativeSeedAreRefused) {
  struct Case {
    std::vector<std::string> extra;
    const char* option;
    const char* said;
  } cases[] = {{{"--context", "0"}, "--context", "at least 1"},
               {{"--context", "-5"}, "--context", "at least 1"},
               {{"--context", "lots"}, "--context", "not a whole number"},
               {{"--precision", ""}, "--precision", "is empty"},
               {{"--seed", "-1"}, "--seed", "--seed"},
               {{"--max-new-tokens", "0"}, "--max-new-tokens", "at least 1"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.extra[0] + " " + c.extra[1]);
    std::vector<std::string> args{"generate", "--model", demo_model_dir(), "--prompt", "hi"};
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    const auto r = ql::testing::run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, c.option)) << r.err;
    EXPECT_TRUE(contains(r.err, c.said)) << r.err;
  }
  const auto bench = ql::testing::run_cli({"bench", "--model", "synthetic:tiny", "--context", "0"});
  EXPECT_EQ(bench.exit_code, 2) << bench.err;
  const auto plan = ql::testing::run_cli({"plan", "--model", demo_model_dir(), "--precision", "bf16", "--context", "0"});
  EXPECT_EQ(plan.exit_code, 2) << plan.err;
}

TEST(CliValues, ExportRefusesAGenerationConfigThatInfoRejects) {
  ScratchDir scratch;
  const std::string dir = scratch.file("model");
  fs::copy(demo_model_dir(), dir, fs::copy_options::recursive);
  scratch.write("model/generation_config.json", "{\"temperature\": \"hot\"}");
  const auto info = ql::testing::run_cli({"info", dir});
  ASSERT_EQ(info.exit_code, 2) << info.err;
  const auto r = ql::testing::run_cli(
      {"export", "--model", dir, "--format", "gguf", "--precision", "q8_0", "--out", scratch.file("out")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "generation_config.json")) << r.err;
  EXPECT_TRUE(contains(r.err, "temperature")) << r.err;
  EXPECT_FALSE(fs::exists(scratch.file("out")));
}

}  // namespace
