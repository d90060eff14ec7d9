// LoadOptions::precision on the CPU backend, for the demo model and the two
// tiny checkpoints: every preset and an explicit list loads and generates;
// the weight bytes the backend reports equal the memory planner's (an
// independent count from the config alone) and shrink below bf16; logits at
// int8 stay close to bf16 and nf4 strays further.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/engine/logit_rows.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"
#include "core/vision/preprocess_config.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::engine;
using namespace ql::engine::testing;
using Ids = std::vector<int32_t>;

// Every key set, none to its preset's value: the canonical string lists them all.
constexpr const char* kExplicitList =
    "experts=nf4, attention=int8, vision=int8, router=int8, embeddings=int8, lm_head=nf4, norms=fp16";

std::string folder_of(const std::string& checkpoint) {
  return checkpoint == "demo" ? demo_model_dir() : data_path("engine/" + checkpoint);
}

// The planner's weight bytes for a precision, from config.json alone.
uint64_t planned_weight_bytes(const ql::model::ModelConfig& config, const std::string& precision) {
  auto choice = ql::quant::parse_precision(precision);
  EXPECT_TRUE(choice.ok()) << choice.message();
  auto plan = ql::quant::plan_memory(config, choice->policy, ql::quant::PlanRequest{});
  EXPECT_TRUE(plan.ok()) << plan.message();
  return plan->weights_bytes;
}

class PrecisionLoad : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    cases_ = read_cases(GetParam());
    ASSERT_FALSE(cases_.is_discarded());
  }
  ql::Status load(const std::string& precision) {
    LoadOptions o;
    o.precision = precision;
    return engine_.load(folder_of(GetParam()), o);
  }
  // A reference case (token ids and images) with every prompt row's logits
  // and a few greedy tokens.
  GenerationResult run_case(const std::string& name) {
    const nlohmann::json& c = *find_case(cases_, name);
    GenerationRequest r;
    TokenPrompt t{c["input_ids"].get<Ids>(), {}};
    for (const auto& f : c["images"]) t.images.push_back(ImageInput::file(engine_image(f.get<std::string>())));
    r.prompt = std::move(t);
    r.sampling.temperature = 0;
    r.max_new_tokens = 4;
    r.ignore_eos = true;
    r.logit_rows.all = true;
    auto result = engine_.generate(r);
    EXPECT_TRUE(result.ok()) << result.message();
    return result.ok() ? std::move(result).value() : GenerationResult{};
  }
  nlohmann::json cases_;
  Engine engine_{&ql::imageio::decode_image_file};
};

TEST_P(PrecisionLoad, EveryPrecisionLoadsGeneratesAndHoldsThePlannedBytes) {
  std::map<std::string, size_t> bytes;
  for (const std::string precision : {"bf16", "fp16", "int8", "nf4-mixed", "nf4", kExplicitList}) {
    SCOPED_TRACE(precision);
    auto st = load(precision);
    ASSERT_TRUE(st.ok()) << st.message();
    const ModelInfo info = *engine_.info();
    EXPECT_EQ(info.precision, ql::quant::precision_string(ql::quant::parse_precision(precision)->policy));
    EXPECT_EQ(info.weight_bytes, planned_weight_bytes(info.config, precision));
    const GenerationResult r = run_case("one_image");
    EXPECT_EQ(r.generated_ids.size(), 4u);
    bytes[info.precision] = info.weight_bytes;
    std::printf("%s at %s: %zu weight bytes\n", GetParam().c_str(), info.precision.c_str(), info.weight_bytes);
  }
  EXPECT_EQ(bytes["fp16"], bytes["bf16"]);
  EXPECT_LT(bytes["int8"], bytes["bf16"]);
  EXPECT_LT(bytes["nf4"], bytes["bf16"]);
  EXPECT_LT(bytes["nf4-mixed"], bytes["bf16"]);
  // nf4 below int8 needs realistic widths: each NF4 matrix carries 1088 bytes
  // of maps, more than it saves on these models' 960-element experts. The
  // bench (test_bench_quantized_load) checks that order at 1 GB.
  EXPECT_EQ(bytes.size(), 6u) << "the explicit list must not collapse to a preset";
}

// Logit error against bf16 over every prompt row: the RMS of the differences
// relative to the RMS of the bf16 logits, and the largest difference
// relative to the largest |logit|.
struct LogitError {
  double rms = 0, max = 0;
};

LogitError logit_error(const GenerationResult& got, const GenerationResult& ref) {
  double diff2 = 0, ref2 = 0, max_diff = 0, max_ref = 0;
  size_t n = 0;
  for (const auto& [row, want] : ref.logits) {
    const std::vector<float>& v = got.logits.at(row);
    for (size_t i = 0; i < want.size(); ++i) {
      const double d = double(v[i]) - want[i];
      diff2 += d * d;
      ref2 += double(want[i]) * want[i];
      max_diff = std::max(max_diff, std::abs(d));
      max_ref = std::max(max_ref, std::abs(double(want[i])));
      ++n;
    }
  }
  EXPECT_GT(n, 0u);
  return {std::sqrt(diff2 / ref2), max_diff / max_ref};
}

// int8 (8 bits per weight and per activation, fp32 outlier columns) stays
// within a few percent of bf16 on a text prompt; nf4 (16 levels per block of
// 64) strays further on every prompt. With images, LLM.int8's activation
// quantization in the vision tower costs more on these random models (rows
// with values just under the outlier threshold), so only the order is held there.
TEST_P(PrecisionLoad, LogitsAtInt8StayCloseToBf16AndNf4StraysFurther) {
  for (const std::string case_name : {"text_only", "one_image"}) {
    std::map<std::string, GenerationResult> results;
    for (const std::string precision : {"bf16", "int8", "nf4"}) {
      ASSERT_TRUE(load(precision).ok()) << precision;
      results[precision] = run_case(case_name);
    }
    const LogitError int8 = logit_error(results["int8"], results["bf16"]);
    const LogitError nf4 = logit_error(results["nf4"], results["bf16"]);
    std::printf("%s/%s: logit error vs bf16 (rms relative, max relative): int8 %.4f %.4f, nf4 %.4f %.4f\n",
                GetParam().c_str(), case_name.c_str(), int8.rms, int8.max, nf4.rms, nf4.max);
    SCOPED_TRACE(case_name);
    EXPECT_GT(int8.rms, 0.0) << "int8 must actually be quantized";
    EXPECT_GT(nf4.rms, int8.rms);
    if (case_name == "text_only") {
      EXPECT_LT(int8.rms, 0.05);
      EXPECT_LT(int8.max, 0.1);
      EXPECT_GT(nf4.rms, 2 * int8.rms);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, PrecisionLoad, ::testing::Values("demo", "tiny-b", "tiny-c"),
                         [](const auto& info) {
                           std::string n = info.param;
                           n.erase(std::remove(n.begin(), n.end(), '-'), n.end());
                           return n;
                         });

}  // namespace
