// --backend auto|cuda|cpu: parsing, and what a machine without a usable GPU
// does (CI has none): auto runs on the CPU and says why in one line, an
// explicit cuda is an error with that reason. On a machine with a usable GPU
// the same tests check that auto and cuda run there instead.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "core/backend/backend_registry.h"
#include "tests/unit/engine_test_support.h"

namespace {

using namespace ql::engine::testing;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(BackendChoice, ParsesTheThreeNamesAndNamesABadOne) {
  EXPECT_EQ(*ql::backend::parse_backend_choice("auto"), ql::backend::BackendChoice::kAuto);
  EXPECT_EQ(*ql::backend::parse_backend_choice("cuda"), ql::backend::BackendChoice::kCuda);
  EXPECT_EQ(*ql::backend::parse_backend_choice("cpu"), ql::backend::BackendChoice::kCpu);
  auto bad = ql::backend::parse_backend_choice("gpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.message(), "'gpu'")) << bad.message();
  EXPECT_TRUE(contains(bad.message(), "auto, cuda, cpu")) << bad.message();
}

// ql_core alone (this test program) has no CUDA backend registered.
TEST(BackendChoice, WithoutACudaBackendAutoIsTheCpuAndCudaIsAnError) {
  auto cpu = ql::backend::resolve_backend(ql::backend::BackendChoice::kCpu);
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(cpu->name, "cpu");
  EXPECT_TRUE(cpu->note.empty());
  auto automatic = ql::backend::resolve_backend(ql::backend::BackendChoice::kAuto);
  ASSERT_TRUE(automatic.ok());
  EXPECT_EQ(automatic->name, "cpu");
  EXPECT_TRUE(contains(automatic->note, "running on the CPU")) << automatic->note;
  auto cuda = ql::backend::resolve_backend(ql::backend::BackendChoice::kCuda);
  ASSERT_FALSE(cuda.ok());
  EXPECT_TRUE(contains(cuda.message(), "backend cuda")) << cuda.message();
}

std::vector<std::string> generate_args(const std::string& backend) {
  return {"generate", "--model", demo_model_dir(), "--prompt", "Hi", "--temperature", "0", "--max-new-tokens",
          "3", "--backend", backend, "--json", "--verbose"};
}

// The CLI links the CUDA backend: on this machine, auto either finds a usable
// GPU or falls back to the CPU with one line saying why.
TEST(BackendChoice, CliAutoFallsBackWithAReasonAndCudaFailsClearly) {
  auto automatic = run_cli(generate_args("auto"));
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  const bool fell_back = contains(automatic.err, "quantlens-cli: note: ");
  std::vector<std::string> cuda_args = generate_args("cuda");
  cuda_args.pop_back();  // no --verbose: the error alone, as a user sees it
  auto cuda = run_cli(cuda_args);
  if (fell_back) {
    // No usable GPU: the note says so, the model ran on the CPU, and asking for cuda is an error with the reason.
    EXPECT_TRUE(contains(automatic.err, "running on the CPU")) << automatic.err;
    EXPECT_TRUE(contains(automatic.err, " on cpu (CPU")) << automatic.err;
    EXPECT_NE(cuda.exit_code, 0);
    EXPECT_TRUE(contains(cuda.err, "backend cuda: ")) << cuda.err;
    EXPECT_EQ(std::count(cuda.err.begin(), cuda.err.end(), '\n'), 1) << "one line: " << cuda.err;
  } else {
    EXPECT_TRUE(contains(automatic.err, " on cuda (")) << automatic.err;
    EXPECT_EQ(cuda.exit_code, 0) << cuda.err;
  }
  auto cpu = run_cli(generate_args("cpu"));
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  EXPECT_TRUE(contains(cpu.err, " on cpu (CPU")) << cpu.err;
  EXPECT_FALSE(contains(cpu.err, "note:")) << "an explicit cpu needs no explanation: " << cpu.err;

  auto bad = run_cli(generate_args("tpu"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.err, "--backend: backend 'tpu' is not one of auto, cuda, cpu")) << bad.err;
}

// The benchmark's every figure on the CPU backend and a synthetic model.
TEST(BenchCli, SyntheticTinyOnTheCpuGivesEveryFigure) {
  auto r = run_cli({"bench", "--model", "synthetic:tiny", "--precision", "bf16,nf4", "--backend", "cpu",
                    "--repetitions", "2", "--decode-tokens", "8", "--prefill-tokens", "64", "--image-side", "128",
                    "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["rows"].size(), 2u);
  for (const auto& row : j["rows"]) {
    SCOPED_TRACE(row.dump());
    EXPECT_EQ(row["backend"], "cpu");
    EXPECT_GT(row["weights_gib"].get<double>(), 0.0);
    EXPECT_GT(row["load_s"].get<double>(), 0.0);
    for (const char* f : {"decode_tok_s", "prefill_tok_s", "image_ttft_ms"}) {
      EXPECT_GT(row[f]["median"].get<double>(), 0.0) << f;
      EXPECT_LE(row[f]["min"].get<double>(), row[f]["median"].get<double>()) << f;
      EXPECT_GE(row[f]["max"].get<double>(), row[f]["median"].get<double>()) << f;
    }
    // 128 x 128 pixels is below the preprocessor's minimum area (65,536 pixels): resized to
    // 256 x 256, 16 x 16 patches of 16, 2 x 2 merged: 64 image tokens.
    EXPECT_EQ(row["image_tokens"], 64);
    EXPECT_GT(row["peak_gib"].get<double>(), row["weights_gib"].get<double>());
    EXPECT_GT(row["copy_gb_s"].get<double>(), 0.0);
    EXPECT_GT(row["achieved_gb_s"].get<double>(), 0.0);
  }
  EXPECT_EQ(j["rows"][0]["precision"], "bf16");
  EXPECT_EQ(j["rows"][1]["precision"], "nf4");
  // NF4 stores fewer bytes than bf16 for the same model.
  EXPECT_LT(j["rows"][1]["weights_gib"].get<double>(), j["rows"][0]["weights_gib"].get<double>());
}

TEST(BenchCli, UnknownSyntheticModelIsNamed) {
  auto r = run_cli({"bench", "--model", "synthetic:huge", "--backend", "cpu"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "synthetic:huge: unknown synthetic model (known: qwen3-vl-30b-a3b")) << r.err;
}

}  // namespace
