// quantlens-cli export: the help lists each format's precisions; a
// safetensors export prints one JSON object (files, sizes, per-tensor
// reports, seconds) or a summary with progress on stderr; bad arguments exit
// 2 with a message naming the culprit and write nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "core/model/checkpoint.h"
#include "tests/unit/engine_test_support.h"
#include "tests/unit/io_test_support.h"

namespace {

using ql::engine::testing::data_path;
using ql::engine::testing::run_cli;
using ql::engine::testing::ScratchDir;
namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const std::string kTinyC = data_path("engine/tiny-c");

TEST(ExportCli, HelpListsThePrecisionsOfEachFormat) {
  const auto r = run_cli({"export", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"gguf: f16, bf16, q8_0, q4_k_m", "bnb: int8, nf4", "safetensors: bf16, fp16", "--shard-size",
                        "--no-mmproj", "--json", "--threads"})
    EXPECT_TRUE(contains(r.out, s)) << s << "\n" << r.out;
}

TEST(ExportCli, JsonReportsEveryFileAndTensor) {
  ScratchDir scratch;
  const std::string out = scratch.file("out");
  const auto r = run_cli({"export", "--model", kTinyC, "--format", "safetensors", "--precision", "fp16", "--out", out,
                          "--json", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "safetensors");
  EXPECT_EQ(j["precision"], "fp16");
  EXPECT_EQ(j["out_dir"], out);
  EXPECT_GE(j["seconds"].get<double>(), 0.0);
  uint64_t sum = 0;
  for (const auto& f : j["files"]) {
    const std::string path = f["path"];
    ASSERT_TRUE(fs::exists(path)) << path;
    EXPECT_EQ(f["bytes"].get<uint64_t>(), fs::file_size(path)) << path;
    sum += f["bytes"].get<uint64_t>();
  }
  EXPECT_EQ(j["total_bytes"].get<uint64_t>(), sum);
  auto src = ql::model::Checkpoint::open(kTinyC);
  ASSERT_TRUE(src.ok());
  ASSERT_EQ(j["tensors"].size(), src->tensor_count());
  for (const auto& t : j["tensors"]) {
    EXPECT_EQ(t["type"], "F16");
    EXPECT_EQ(t["file"], "model.safetensors");
    EXPECT_EQ(t["name"], t["source"]);
    EXPECT_TRUE(t["rel_rmse"].is_number()) << t.dump();  // bf16 -> fp16 is a conversion
    EXPECT_TRUE(t["inapp_rel_rmse"].is_null());
  }
  EXPECT_TRUE(r.err.empty() || !contains(r.err, "export:")) << "no progress line with --json: " << r.err;
}

TEST(ExportCli, WithoutJsonASummaryOnStdoutAndProgressOnStderr) {
  ScratchDir scratch;
  const auto r = run_cli(
      {"export", "--model", kTinyC, "--format", "SafeTensors", "--precision", "BF16", "--out", scratch.file("out")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "exported " + kTinyC + " as safetensors bf16")) << r.out;
  EXPECT_TRUE(contains(r.out, "model.safetensors")) << r.out;
  EXPECT_TRUE(contains(r.out, "config.json")) << r.out;
  EXPECT_TRUE(contains(r.err, "export:")) << r.err;
  EXPECT_TRUE(fs::exists(scratch.file("out/model.safetensors")));
}

TEST(ExportCli, ShardSizeSplitsTheWeights) {
  ScratchDir scratch;
  const auto r = run_cli({"export", "--model", kTinyC, "--format", "safetensors", "--precision", "bf16", "--out",
                          scratch.file("out"), "--shard-size", "0.0001", "--json"});  // 100 kB per shard
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(scratch.file("out/model.safetensors.index.json")));
  auto ckpt = ql::model::Checkpoint::open(scratch.file("out"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.message();
  EXPECT_GT(ckpt->shards().size(), 1u);
}

struct BadArgs {
  std::vector<std::string> extra;
  std::string fragment;
};

TEST(ExportCli, BadArgumentsExitTwoNamingTheCulpritAndWriteNothing) {
  ScratchDir scratch;
  const std::string out = scratch.file("out");
  const std::vector<BadArgs> cases = {
      {{"--format", "onnx", "--precision", "bf16"}, "onnx"},
      {{"--format", "safetensors", "--precision", "q4_k_m"}, "q4_k_m"},
      {{"--format", "bnb", "--precision", "bf16"}, "int8, nf4"},
      {{"--format", "gguf", "--precision", "q8_0", "--shard-size", "2"}, "--shard-size"},
      {{"--format", "safetensors", "--precision", "bf16", "--no-mmproj"}, "--no-mmproj"},
      {{"--format", "safetensors", "--precision", "bf16", "--shard-size", "0"}, "--shard-size"},
      {{"--format", "safetensors", "--precision", "bf16", "--threads", "-1"}, "--threads"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"export", "--model", kTinyC, "--out", out};
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << c.fragment << ": " << r.err;
    EXPECT_TRUE(contains(r.err, c.fragment)) << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.fragment;
  }
}

TEST(ExportCli, TheModelFolderOrANonEmptyFolderAsOutputExitsTwo) {
  const auto same =
      run_cli({"export", "--model", kTinyC, "--format", "safetensors", "--precision", "bf16", "--out", kTinyC});
  EXPECT_EQ(same.exit_code, 2);
  EXPECT_TRUE(contains(same.err, "is the model folder")) << same.err;

  ScratchDir scratch;
  const std::string out = scratch.file("full");
  fs::create_directory(out);
  std::ofstream(out + "/other.txt") << "x";
  const auto busy =
      run_cli({"export", "--model", kTinyC, "--format", "safetensors", "--precision", "bf16", "--out", out});
  EXPECT_EQ(busy.exit_code, 2);
  EXPECT_TRUE(contains(busy.err, "not empty")) << busy.err;
  EXPECT_TRUE(contains(busy.err, "other.txt")) << busy.err;
}

}  // namespace
