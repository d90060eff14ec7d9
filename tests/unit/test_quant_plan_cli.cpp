// `quantlens-cli plan`: the JSON fields, fits / does not fit (exit 0 either
// way), auto, and exit 2 with the valid choices on bad input.
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/model_test_files.h"

namespace ql::quant {
namespace {

using model::testing::run_cli;
using nlohmann::json;

const std::string kPublishedDir = std::string(QL_TEST_DATA) + "/qwen3-vl-30b-a3b";
const std::string kConfig = "--config '" + kPublishedDir + "/config.json'";

json parse_stdout(const model::testing::CliRun& r) {
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  return j;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(PlanCli, JsonHasTheAgreedFields) {
  auto r = run_cli("plan " + kConfig + " --precision nf4-mixed --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = parse_stdout(r);
  EXPECT_EQ(j["precision"], "nf4-mixed");
  EXPECT_EQ(j["context"], 8192);
  EXPECT_EQ(j["batch"], 1);
  EXPECT_EQ(j["kv_cache_bytes"], 2ull * 48 * 4 * 128 * 8192 * 2);
  EXPECT_EQ(j["components"]["vision"], 2 * 538'631'408ull);  // bf16 in nf4-mixed
  EXPECT_EQ(j["components"]["lm_head"], 151936ull * 2048 + 151936ull * 4);  // int8
  EXPECT_EQ(j["formats"]["experts"], "nf4");
  uint64_t components = 0;
  for (const auto& [name, bytes] : j["components"].items()) components += bytes.get<uint64_t>();
  EXPECT_EQ(j["weights_bytes"].get<uint64_t>(), components);
  EXPECT_EQ(j["total_bytes"].get<uint64_t>(),
            j["weights_bytes"].get<uint64_t>() + j["kv_cache_bytes"].get<uint64_t>() +
                j["workspace_bytes"].get<uint64_t>() + j["runtime_overhead_bytes"].get<uint64_t>());
  EXPECT_FALSE(j.contains("fits"));  // only with --vram
}

TEST(PlanCli, VramSaysFitsOrNotAndExits0EitherWay) {
  auto fits = run_cli("plan " + kConfig + " --precision nf4-mixed --vram 24 --json");
  ASSERT_EQ(fits.exit_code, 0) << fits.err;
  json j = parse_stdout(fits);
  EXPECT_EQ(j["fits"], true);
  EXPECT_EQ(j["usable_bytes"], 24ull * (1ull << 30) - (512ull << 20));
  EXPECT_GT(j["margin_bytes"].get<int64_t>(), 0);

  auto too_big = run_cli("plan " + kConfig + " --precision bf16 --vram 24 --json");
  ASSERT_EQ(too_big.exit_code, 0) << too_big.err;
  EXPECT_EQ(parse_stdout(too_big)["fits"], false);
  EXPECT_LT(parse_stdout(too_big)["margin_bytes"].get<int64_t>(), 0);

  auto text = run_cli("plan " + kConfig + " --precision bf16 --vram 24");
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_TRUE(contains(text.out, "does not fit")) << text.out;
}

TEST(PlanCli, TextTableListsComponentsAndTotal) {
  auto r = run_cli("plan --model '" + kPublishedDir + "' --precision nf4 --context 4096 --batch 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* part : {"experts", "nf4", "attention", "lm_head", "KV cache", "workspace", "runtime", "total",
                           "context 4096, batch 2"})
    EXPECT_TRUE(contains(r.out, part)) << part << "\n" << r.out;
  // KV cache: 2 x 48 layers x 4 KV heads x 128 x 4096 tokens x 2 sequences x 2 bytes.
  EXPECT_TRUE(contains(r.out, "805,306,368")) << r.out;
}

TEST(PlanCli, AutoResolvesWithVramAndNeedsIt) {
  auto r = run_cli("plan " + kConfig + " --precision auto --vram 24 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = parse_stdout(r);
  EXPECT_EQ(j["requested_precision"], "auto");
  EXPECT_EQ(j["precision"], "nf4-mixed");
  EXPECT_EQ(j["fits"], true);

  auto missing = run_cli("plan " + kConfig + " --precision auto");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(contains(missing.err, "--vram")) << missing.err;
}

TEST(PlanCli, UnknownPrecisionExits2ListingPresetsAndKeys) {
  auto r = run_cli("plan " + kConfig + " --precision q4_k_m");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_TRUE(contains(r.err, "\"q4_k_m\"")) << r.err;
  EXPECT_TRUE(contains(r.err, "bf16, fp16, int8, nf4-mixed, nf4, auto")) << r.err;
  EXPECT_TRUE(contains(r.err, "vision, attention, router, experts, embeddings, lm_head, norms")) << r.err;
}

TEST(PlanCli, BadInputsExit2) {
  EXPECT_EQ(run_cli("plan " + kConfig + " --precision nf4 --context 0").exit_code, 2);
  EXPECT_EQ(run_cli("plan " + kConfig + " --precision nf4 --batch x").exit_code, 2);
  EXPECT_EQ(run_cli("plan " + kConfig + " --precision nf4 --vram -3").exit_code, 2);
  EXPECT_EQ(run_cli("plan --precision nf4").exit_code, 2);  // neither --model nor --config
  EXPECT_EQ(run_cli("plan " + kConfig + " --model '" + kPublishedDir + "' --precision nf4").exit_code, 2);
  auto missing = run_cli("plan --config /nonexistent/config.json --precision nf4");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(contains(missing.err, "/nonexistent/config.json")) << missing.err;
}

TEST(PlanCli, HelpSaysNotFittingIsNotAnError) {
  auto r = run_cli("plan --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.out, "not an error")) << r.out;
}

}  // namespace
}  // namespace ql::quant
