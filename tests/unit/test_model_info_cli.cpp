// `quantlens-cli info DIR [--json]`: the summary, the exit codes (0 valid,
// 2 invalid, 3 config without weights) and every problem on stderr.
#include <gtest/gtest.h>

#include "tests/unit/model_test_files.h"

namespace ql::model {
namespace {

using nlohmann::json;
using testing::run_cli;
using testing::TempDir;
using testing::tiny_config_json;
using testing::tiny_tensors;

const std::string kPublishedDir = std::string(QL_TEST_DATA) + "/qwen3-vl-30b-a3b";

json parse_stdout(const testing::CliRun& r) {
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

TEST(InfoCli, PublishedConfigWithoutWeightsExits3WithCountsFromConfig) {
  auto r = run_cli("info '" + kPublishedDir + "' --json");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  json j = parse_stdout(r);
  EXPECT_EQ(j["weights"]["state"], "none");
  EXPECT_EQ(j["parameters"]["source"], "config");
  EXPECT_EQ(j["parameters"]["total"], 31'070'754'032);
  EXPECT_EQ(j["parameters"]["experts"], 28'991'029'248);
  EXPECT_EQ(j["parameters"]["vision"], 538'631'408);
  EXPECT_EQ(j["parameters"]["text_per_token"], 3'353'032'704);
  EXPECT_EQ(j["schema_tensor_count"], 882);
  EXPECT_EQ(j["config"]["text"]["layers"], 48);
  EXPECT_EQ(j["config"]["text"]["experts"], 128);
  EXPECT_EQ(j["config"]["text"]["experts_per_token"], 8);
  EXPECT_EQ(j["config"]["vision"]["depth"], 27);
  EXPECT_EQ(j["config"]["vision"]["deepstack_visual_indexes"], json({8, 16, 24}));
  EXPECT_EQ(j["exit_code"], 3);
  EXPECT_TRUE(r.err.empty()) << r.err;

  auto text = run_cli("info '" + kPublishedDir + "'");
  EXPECT_EQ(text.exit_code, 3);
  EXPECT_NE(text.out.find("Weights        none found"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("31,070,754,032"), std::string::npos) << text.out;
}

TEST(InfoCli, ValidTinyCheckpointExits0) {
  TempDir tmp;
  const std::string dir = tmp.sub("tiny");
  testing::write_model_folder(dir, tiny_config_json(), tiny_tensors());
  auto r = run_cli("info '" + dir + "' --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  json j = parse_stdout(r);
  EXPECT_EQ(j["weights"]["state"], "valid");
  EXPECT_EQ(j["weights"]["tensor_count"], 75);
  EXPECT_EQ(j["weights"]["shard_count"], 1);
  EXPECT_EQ(j["weights"]["dtypes"], json({{"F32", 75}}));
  EXPECT_EQ(j["weights"]["bytes"], 102'416 * 4);
  EXPECT_EQ(j["parameters"]["source"], "checkpoint");
  EXPECT_EQ(j["parameters"]["total"], 102'416);
  EXPECT_EQ(j["parameters"]["dense_mlp"], 6'720);
  EXPECT_EQ(j["expert_orientation"]["in_out"], 4);
  EXPECT_EQ(j["expert_orientation"]["out_in"], 0);
  EXPECT_EQ(j["expert_orientation"]["tensors"]["model.language_model.layers.2.mlp.experts.down_proj"], "in_out");
  EXPECT_EQ(j["validation"]["ok"], true);
  EXPECT_EQ(j["validation"]["problems"], json::array());
  EXPECT_EQ(j["generation"]["from_file"], false);  // tiny folder has none: published defaults

  auto text = run_cli("info '" + dir + "'");
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("75 tensors in 1 file"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("all 75 tensors match config.json"), std::string::npos) << text.out;
}

TEST(InfoCli, MismatchedCheckpointExits2WithEveryProblemOnStderr) {
  TempDir tmp;
  const std::string dir = tmp.sub("tiny");
  auto ts = tiny_tensors();
  testing::erase_fake(ts, "model.language_model.norm.weight");
  testing::find_fake(ts, "model.visual.merger.linear_fc1.bias")->shape = {95};
  testing::write_model_folder(dir, tiny_config_json(), ts);

  auto r = run_cli("info '" + dir + "' --json");
  EXPECT_EQ(r.exit_code, 2);
  json j = parse_stdout(r);
  EXPECT_EQ(j["validation"]["ok"], false);
  EXPECT_EQ(j["weights"]["state"], "invalid");
  EXPECT_EQ(j["validation"]["problems"],
            json({"model.language_model.norm.weight: missing (expected shape [40])",
                  "model.visual.merger.linear_fc1.bias: shape [95], expected [96]"}));
  EXPECT_NE(r.err.find("quantlens-cli: model.language_model.norm.weight: missing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("quantlens-cli: model.visual.merger.linear_fc1.bias: shape [95], expected [96]"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("quantlens-cli: error: " + dir + ": 2 problems: 1 missing, 1 mis-shaped"), std::string::npos)
      << r.err;

  auto text = run_cli("info '" + dir + "'");
  EXPECT_EQ(text.exit_code, 2);
  EXPECT_NE(text.out.find("Validation     FAILED"), std::string::npos) << text.out;
}

TEST(InfoCli, UnreadableWeightsExit2AndStillSummariseTheConfig) {
  TempDir tmp;
  const std::string dir = tmp.sub("tiny");
  testing::write_model_folder(dir, tiny_config_json(), {});
  testing::write_file(dir + "/model.safetensors", "junk");
  auto r = run_cli("info '" + dir + "' --json");
  EXPECT_EQ(r.exit_code, 2);
  json j = parse_stdout(r);
  EXPECT_EQ(j["weights"]["state"], "invalid");
  EXPECT_EQ(j["parameters"]["source"], "config");
  EXPECT_EQ(j["parameters"]["total"], 102'416);
  EXPECT_NE(r.err.find(dir + "/model.safetensors: truncated: 4 bytes"), std::string::npos) << r.err;
}

TEST(InfoCli, BadConfigExits2NamingTheField) {
  TempDir tmp;
  const std::string dir = tmp.sub("tiny");
  json cfg = tiny_config_json();
  cfg["text_config"]["hidden_size"] = "forty";
  testing::write_model_folder(dir, cfg, tiny_tensors());
  auto r = run_cli("info '" + dir + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err, "quantlens-cli: error: " + dir + "/config.json: text_config.hidden_size: expected an integer, got "
                   "string\n");

  auto missing = run_cli("info '" + tmp.file("absent") + "'");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find(tmp.file("absent") + "/config.json: cannot open"), std::string::npos) << missing.err;
}

TEST(InfoCli, HelpDocumentsExitCodes) {
  auto r = run_cli("info --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Exit codes:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3  config.json is valid but the folder holds no weights"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ql::model
