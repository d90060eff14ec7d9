// quantlens-cli eval on the demo model (random weights: its answers are
// noise, so what is checked is the report, not the accuracy): every precision
// row scores every question, per type, beside KL and top-1 against the
// reference; a bad set file exits 2 naming the file and the item.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/unit/engine_test_support.h"

namespace {

using namespace ql::engine::testing;

TEST(EvalCli, ReportsEveryPrecisionOnEveryQuestion) {
  auto r = run_cli({"eval", "--model", demo_model_dir(), "--set", data_path("eval/smoke-set.json"), "--precisions",
                    "bf16,int8", "--tokens", "4", "--backend", "cpu", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["questions"], 3);
  EXPECT_EQ(j["reference"], "bf16");
  ASSERT_EQ(j["precisions"].size(), 2u);
  for (const auto& row : j["precisions"]) {
    EXPECT_EQ(row["total"], 3);
    EXPECT_EQ(row["answers"].size(), 3u);
    EXPECT_EQ(row["by_type"]["colour"]["total"], 1);
    EXPECT_EQ(row["by_type"]["grounding"]["total"], 1);
    EXPECT_EQ(row["by_type"]["count"]["total"], 1);
    EXPECT_EQ(row["boxes"], 1);
    int right = 0;
    for (const auto& a : row["answers"]) right += a["right"].get<bool>() ? 1 : 0;
    EXPECT_EQ(row["right"], right);
    EXPECT_DOUBLE_EQ(row["accuracy"].get<double>(), right / 3.0);
    EXPECT_GT(row["weights_bytes"].get<double>(), 0);
  }
  EXPECT_EQ(j["precisions"][0]["kl_mean"], 0.0) << "the reference against itself";
  EXPECT_EQ(j["precisions"][0]["top1_agreement"], 1.0);
  // The text form names the types as columns.
  auto text = run_cli({"eval", "--model", demo_model_dir(), "--set", data_path("eval/smoke-set.json"), "--precisions",
                       "bf16", "--tokens", "2", "--backend", "cpu"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("colour"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("bf16 (ref)"), std::string::npos) << text.out;
}

TEST(EvalCli, ABadSetFileIsNamed) {
  const auto dir = std::filesystem::temp_directory_path() / ("ql_eval_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = (dir / "bad.json").string();
  std::ofstream(file) << R"([{"text": "q", "answer": "a"}, {"text": "q", "box": [1, 2]}])";
  auto r = run_cli({"eval", "--model", demo_model_dir(), "--set", file, "--backend", "cpu"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("bad.json: item 2: \"box\" must be a list of 4 numbers"), std::string::npos) << r.err;
  auto missing = run_cli({"eval", "--model", demo_model_dir(), "--set", (dir / "none.json").string()});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find("none.json"), std::string::npos) << missing.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
