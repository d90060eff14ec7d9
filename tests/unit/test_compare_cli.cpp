// quantlens-cli compare: the --json object of the issue, the text table with
// the built-in prompts, and exit code 2 with a message naming the culprit
// for a bad precision, a missing or bad prompts file and a bad --tokens.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/engine_test_support.h"

namespace {

using namespace ql::engine::testing;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

CliRun compare(std::vector<std::string> extra) {
  std::vector<std::string> args = {"compare", "--model", demo_model_dir()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args);
}

TEST(CompareCli, JsonHasARowPerPrecisionWithTheIssuesFields) {
  ScratchDir dir;
  const std::string prompts = dir.write(
      "prompts.json", R"([{"text": "What is the capital of France?"},
                          {"text": "What is in this picture?", "images": [")" + engine_image("img_a_64x64.png") +
                          R"("], "system": "Be brief."}])");
  auto r = compare({"--precisions", "bf16,int8", "--prompts", prompts, "--tokens", "5", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["reference"], "bf16");
  EXPECT_EQ(j["sequential"], true);
  EXPECT_EQ(j["placement"], "run one after another: no memory budget given");
  EXPECT_EQ(j["tokens"], 5);
  ASSERT_EQ(j["prompts"].size(), 2u);
  EXPECT_EQ(j["prompts"][1]["label"], "What is in this picture? [img_a_64x64.png]");
  ASSERT_EQ(j["precisions"].size(), 2u);
  const char* names[] = {"bf16", "int8"};
  for (size_t i = 0; i < 2; ++i) {
    const auto& row = j["precisions"][i];
    EXPECT_EQ(row["name"], names[i]);
    EXPECT_EQ(row["reference"], i == 0);
    for (const char* key : {"weights_bytes", "kl_mean", "kl_p99", "top1_agreement", "decode_tok_s", "ttft_ms"}) {
      EXPECT_TRUE(row.contains(key) && row[key].is_number()) << key;
    }
    EXPECT_GT(row["weights_bytes"].get<double>(), 0);
    EXPECT_GE(row["kl_mean"].get<double>(), 0);
    EXPECT_GE(row["top1_agreement"].get<double>(), 0);
    EXPECT_LE(row["top1_agreement"].get<double>(), 1);
    ASSERT_TRUE(row["answers"].is_array());
    ASSERT_EQ(row["answers"].size(), 2u);
    EXPECT_TRUE(row["answers"][0].is_string());
    EXPECT_EQ(row["answer_ids"][0].size(), 5u);
  }
  EXPECT_EQ(j["precisions"][0]["kl_mean"], 0.0);
  EXPECT_EQ(j["precisions"][0]["top1_agreement"], 1.0);
}

TEST(CompareCli, TextTableWithTheBuiltinPrompts) {
  auto r = compare({"--precisions", "nf4", "--tokens", "3", "--vram", "64"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "reference bf16")) << r.out;
  // --vram is the budget: the demo's two plans fit it together.
  EXPECT_TRUE(contains(r.out, "precisions loaded together\nplacement: held together: 2 precisions need ")) << r.out;
  EXPECT_TRUE(contains(r.out, " of 63.50 GiB usable\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "KL mean")) << r.out;
  EXPECT_TRUE(contains(r.out, "bf16 (ref)")) << r.out;
  EXPECT_TRUE(contains(r.out, "\nnf4 ")) << r.out;
  EXPECT_TRUE(contains(r.out, "[shapes.png]")) << r.out;
  EXPECT_TRUE(contains(r.out, "[5] ")) << r.out;
}

TEST(CompareCli, BadInputExitsWith2NamingTheCulprit) {
  auto bad_precision = compare({"--precisions", "bf16,int9"});
  EXPECT_EQ(bad_precision.exit_code, 2);
  EXPECT_TRUE(contains(bad_precision.err, "int9")) << bad_precision.err;
  EXPECT_TRUE(bad_precision.out.empty());

  auto automatic = compare({"--precisions", "auto"});
  EXPECT_EQ(automatic.exit_code, 2);
  EXPECT_TRUE(contains(automatic.err, "auto")) << automatic.err;

  auto missing = compare({"--precisions", "bf16,int8", "--prompts", "/no/such/prompts.json"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(contains(missing.err, "/no/such/prompts.json")) << missing.err;

  ScratchDir dir;
  auto bad_file = compare({"--precisions", "bf16", "--prompts", dir.write("p.json", R"([{"txt": "hi"}])")});
  EXPECT_EQ(bad_file.exit_code, 2);
  EXPECT_TRUE(contains(bad_file.err, "\"txt\"")) << bad_file.err;

  auto tokens = compare({"--precisions", "bf16", "--tokens", "0"});
  EXPECT_EQ(tokens.exit_code, 2);
  EXPECT_TRUE(contains(tokens.err, "--tokens")) << tokens.err;

  auto vram = compare({"--precisions", "bf16", "--vram", "-2"});
  EXPECT_EQ(vram.exit_code, 2);
  EXPECT_TRUE(contains(vram.err, "--vram")) << vram.err;

  auto no_model = run_cli({"compare", "--model", data_path("engine/no-such-model"), "--precisions", "bf16",
                           "--prompts", dir.write("q.json", R"([{"text": "hi"}])")});
  EXPECT_EQ(no_model.exit_code, 2);
  EXPECT_TRUE(contains(no_model.err, "no-such-model")) << no_model.err;
}

}  // namespace
