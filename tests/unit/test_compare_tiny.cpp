// compare_precisions on the tiny checkpoints (no tokenizer: token-id prompts
// with images, the five cases of tests/data/engine/cases-*.json). bf16
// against itself agrees exactly, and its forced rows line up with the tokens
// they predict (and with transformers' greedy tokens where the checkpoint is
// stored in bf16, so that "bf16" changes no weight); int8 must stay closer
// to the reference than nf4.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/engine/compare.h"
#include "tests/unit/engine_test_support.h"
#include "ui/imageio/image_decode.h"

namespace {

using namespace ql::engine;
using namespace ql::engine::testing;
using Ids = std::vector<int32_t>;

constexpr int64_t kTokens = 12;  // the cases' greedy length

class TinyCompare : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    cases_ = read_cases(GetParam());
    ASSERT_FALSE(cases_.is_discarded());
  }
  CompareRequest request(std::vector<std::string> precisions) const {
    CompareRequest r;
    r.model_dir = data_path("engine/" + GetParam());
    r.precisions = std::move(precisions);
    r.tokens = kTokens;
    for (const auto& c : cases_["cases"]) {
      TokenPrompt t{c["input_ids"].get<Ids>(), {}};
      for (const auto& image : c["images"]) {
        t.images.push_back(ImageInput::file(engine_image(image.get<std::string>())));
      }
      r.prompts.push_back({c["name"].get<std::string>(), std::move(t)});
    }
    return r;
  }
  // transformers' greedy tokens up to and including an eos id (where our answer stops).
  Ids greedy(size_t j, const std::vector<int32_t>& eos) const {
    Ids g = cases_["cases"][j]["greedy"].get<Ids>();
    auto end = std::find_first_of(g.begin(), g.end(), eos.begin(), eos.end());
    if (end != g.end()) g.erase(end + 1, g.end());
    return g;
  }
  // tiny-b is stored in f32: loading it as "bf16" rounds its weights, so
  // transformers' fp32 greedy tokens are not its answers.
  bool stored_in_bf16() const {
    std::ifstream in(data_path("engine/" + GetParam() + "/config.json"));
    return nlohmann::json::parse(in)["text_config"]["dtype"] == "bfloat16";
  }
  // The checkpoint's generation_config.json eos_token_id: one id or a list.
  Ids eos_ids() const {
    std::ifstream in(data_path("engine/" + GetParam() + "/generation_config.json"));
    const auto eos = nlohmann::json::parse(in)["eos_token_id"];
    return eos.is_array() ? eos.get<Ids>() : Ids{eos.get<int32_t>()};
  }

  nlohmann::json cases_;
  Engine engine_{&ql::imageio::decode_image_file};
};

TEST_P(TinyCompare, Bf16AgainstItselfAgreesExactlyAndForcedRowsLineUp) {
  auto report = compare_precisions(engine_, request({"bf16", "bf16"}));
  ASSERT_TRUE(report.ok()) << report.message();
  ASSERT_EQ(report->precisions.size(), 2u);
  const PrecisionRow &ref = report->precisions[0], &again = report->precisions[1];
  for (size_t j = 0; j < report->prompts.size(); ++j) {
    const auto& label = report->prompts[j].label;
    // The argmax of the forced row before each continuation token is that
    // token (the continuation is the reference's greedy answer): row (prompt
    // length - 1 + k) was compared for token k, not for a neighbour.
    EXPECT_EQ(ref.prompts[j].forced_top1, ref.prompts[j].answer_ids) << label;
    if (stored_in_bf16()) {
      EXPECT_EQ(ref.prompts[j].answer_ids, greedy(j, eos_ids())) << label;
    }
    EXPECT_EQ(again.prompts[j].answer_ids, ref.prompts[j].answer_ids) << label;
    EXPECT_TRUE(ref.prompts[j].answer.empty());  // no tokenizer: the ids are the answer
  }
  EXPECT_LT(again.fidelity.kl_mean, 1e-9);
  EXPECT_LT(again.fidelity.kl_p99, 1e-9);
  EXPECT_EQ(again.fidelity.top1_agreement, 1.0);
}

TEST_P(TinyCompare, Int8StaysCloserToTheReferenceThanNf4) {
  auto report = compare_precisions(engine_, request({"bf16", "int8", "nf4"}));
  ASSERT_TRUE(report.ok()) << report.message();
  ASSERT_EQ(report->precisions.size(), 3u);
  for (const auto& row : report->precisions) {
    EXPECT_TRUE(std::isfinite(row.fidelity.kl_mean) && row.fidelity.kl_mean >= 0);
    EXPECT_GE(row.fidelity.top1_agreement, 0.0);
    EXPECT_LE(row.fidelity.top1_agreement, 1.0);
    std::printf("%s %-5s loaded as '%s': KL mean %.4g, p99 %.4g, top-1 %.3f, weights %zu B\n", GetParam().c_str(),
                row.name.c_str(), row.loaded_precision.c_str(), row.fidelity.kl_mean, row.fidelity.kl_p99,
                row.fidelity.top1_agreement, row.weight_bytes);
  }
  const auto &int8 = report->precisions[1].fidelity, &nf4 = report->precisions[2].fidelity;
  EXPECT_GT(int8.kl_mean, 0.0) << "int8 gives the reference's distributions exactly: was it quantized?";
  EXPECT_LT(int8.kl_mean, nf4.kl_mean);
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, TinyCompare, ::testing::Values("tiny-b", "tiny-c"),
                         [](const auto& info) { return info.param == "tiny-b" ? "TinyB" : "TinyC"; });

}  // namespace
