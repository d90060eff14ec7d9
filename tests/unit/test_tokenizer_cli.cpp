// quantlens-cli tokenize / detokenize: output and exit codes (0 ok, 2 bad input).
#include <gtest/gtest.h>

#include "tests/unit/cli_runner.h"
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "tests/unit/test_tokenizer_fixture.h"

namespace {
// ctest runs each test in its own process, two at a time: every process gets
// its own scratch names so parallel tests never read each other's output.
std::string scratch_prefix() { return ::testing::TempDir() + "/pid" + std::to_string(::getpid()); }
}  // namespace

namespace {

using ql::testing::CliRun;
using ql::testing::shell_quote;

// A clean environment for the tokenizer search unless the test sets one.
CliRun run_cli(const std::vector<std::string>& args, const std::string& env = "") {
  return ql::testing::run_cli(args, "", env.empty() ? "-u QUANTLENS_TOKENIZER" : env);
}

TEST(TokenizerCli, TokenizePrintsIds) {
  const CliRun r = run_cli({"tokenize", "<|im_start|>user\nhi<|im_end|>\n"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "151644 872 198 6023 151645 198\n");
}

TEST(TokenizerCli, TokenizeJson) {
  const CliRun r = run_cli({"tokenize", "--json", "system"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j, (nlohmann::json{{"ids", {8948}}}));
}

TEST(TokenizerCli, TokenizeEmptyText) {
  const CliRun r = run_cli({"tokenize", ""});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "\n");
}

TEST(TokenizerCli, DetokenizePrintsText) {
  const CliRun r = run_cli({"detokenize", "151644", "77091", "198", "9707", "11", "1879", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "<|im_start|>assistant\nHello, world!\n");
}

TEST(TokenizerCli, DetokenizeJson) {
  const CliRun r = run_cli({"detokenize", "--json", "872", "271"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out), (nlohmann::json{{"text", "user\n\n"}}));
}

TEST(TokenizerCli, BadIdsExitTwoNamingTheValue) {
  for (const std::string bad : {"abc", "12x", "1.5", "151669", "99999999999999999999", "-- -3"}) {
    std::vector<std::string> args = {"detokenize", "872"};
    if (bad.rfind("-- ", 0) == 0) {
      args.push_back("--");
      args.push_back(bad.substr(3));
    } else {
      args.push_back(bad);
    }
    const CliRun r = run_cli(args);
    const std::string value = bad.rfind("-- ", 0) == 0 ? bad.substr(3) : bad;
    EXPECT_EQ(r.exit_code, 2) << value;
    EXPECT_NE(r.err.find(value), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << value;
  }
}

TEST(TokenizerCli, MissingArgumentsExitTwo) {
  EXPECT_EQ(run_cli({"tokenize"}).exit_code, 2);
  EXPECT_EQ(run_cli({"detokenize"}).exit_code, 2);
}

TEST(TokenizerCli, ModelFolderTokenizerIsUsed) {
  // A tiny tokenizer (byte b = id b) in a model folder replaces the default.
  const std::string dir = scratch_prefix() + "_tokcli_model";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tokenizer.json") << ql::text::testing::tiny_tokenizer().dump();
  const CliRun r = run_cli({"tokenize", "--model", dir, "hi"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "104 105\n");
  const CliRun d = run_cli({"detokenize", "--model", dir, "104", "105"});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(d.out, "hi\n");
  // In the tiny vocabulary 300 is out of range.
  const CliRun bad = run_cli({"detokenize", "--model", dir, "300"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("300"), std::string::npos) << bad.err;
}

TEST(TokenizerCli, BrokenTokenizerFileIsNamed) {
  const std::string dir = scratch_prefix() + "_tokcli_broken";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tokenizer.json") << "{\"model\": {\"type\": \"Unigram\"}}";
  const CliRun r = run_cli({"tokenize", "--model", dir, "hi"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(dir + "/tokenizer.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("model.type"), std::string::npos) << r.err;
}

TEST(TokenizerCli, EnvironmentVariableIsHonoured) {
  const std::string path = scratch_prefix() + "_tokcli_env_tokenizer.json";
  std::ofstream(path) << ql::text::testing::tiny_tokenizer().dump();
  const CliRun r = run_cli({"tokenize", "A"}, "QUANTLENS_TOKENIZER=" + shell_quote(path));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "65\n");
  const CliRun missing = run_cli({"tokenize", "A"}, "QUANTLENS_TOKENIZER=/nonexistent/tok.json");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("/nonexistent/tok.json"), std::string::npos) << missing.err;
}

TEST(TokenizerCli, MissingModelFolderExitsTwo) {
  const CliRun r = run_cli({"tokenize", "--model", "/nonexistent/model_dir", "hi"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/model_dir"), std::string::npos) << r.err;
}

}  // namespace
