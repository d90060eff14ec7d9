// Memory plans of the published Qwen3-VL-30B-A3B config. Expected bytes come
// from docs/model.md §2 (shapes, §2.2 parameter counts) and the format definitions,
// worked out here by hand, independently of the planner.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/model/model_config.h"
#include "core/quant/memory_budget.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"

namespace ql::quant {
namespace {

using model::Component;

constexpr uint64_t kGiBytes = uint64_t{1} << 30;

// NF4 of one matrix of n elements: packed nibbles, one absmax code per 64,
// one fp32 nested absmax per 256 codes, 16 + 256 fp32 map entries.
uint64_t nf4(uint64_t n) {
  const uint64_t blocks = (n + 63) / 64;
  return (n + 1) / 2 + blocks + 4 * ((blocks + 255) / 256) + 16 * 4 + 256 * 4;
}
// INT8 of one [rows, cols] matrix: a byte per element, an fp32 scale per row.
uint64_t int8(uint64_t rows, uint64_t cols) { return rows * cols + 4 * rows; }

// Vision elements that are never quantized: Conv3d patch embedding + bias,
// position table, per block 2 LayerNorms (weight + bias) and 4 biases, the
// final merger's LayerNorm (1152) and the 3 DeepStack mergers' (4608), and
// the 4 mergers' two biases.
constexpr uint64_t kVision16Elements = 1152 * 1536 + 1152 + 2304 * 1152 +
                                       27 * (4 * 1152 + 3456 + 1152 + 4304 + 1152) + 2 * 1152 + 3 * 2 * 4608 +
                                       4 * (4608 + 2048);

// Vision linear matrices under `matrix_bytes(rows, cols)`, with the qkv as
// three [1152, 1152] matrices as the loader splits it.
template <typename Bytes>
uint64_t vision_matrices(Bytes matrix_bytes) {
  const uint64_t block = 3 * matrix_bytes(1152, 1152) + matrix_bytes(1152, 1152) + matrix_bytes(4304, 1152) +
                         matrix_bytes(1152, 4304);
  const uint64_t merger = matrix_bytes(4608, 4608) + matrix_bytes(2048, 4608);
  return 27 * block + 4 * merger;
}

// q, k, v, o per layer, plus the two 128-element q/k norms kept bf16.
template <typename Bytes>
uint64_t attention(Bytes matrix_bytes) {
  return 48 * (matrix_bytes(4096, 2048) + 2 * matrix_bytes(512, 2048) + matrix_bytes(2048, 4096) + 2 * 128 * 2);
}

// Per expert: gate_up [1536, 2048] and down [2048, 768].
template <typename Bytes>
uint64_t experts(Bytes matrix_bytes) {
  return 48 * 128 * (matrix_bytes(1536, 2048) + matrix_bytes(2048, 768));
}

constexpr uint64_t kRouterBf16 = 48 * 128 * 2048 * 2;
constexpr uint64_t kTableBf16 = 151936ull * 2048 * 2;         // embed_tokens, lm_head
constexpr uint64_t kTextNormsBf16 = (2 * 48 + 1) * 2048 * 2;  // 2 RMSNorms per layer + final

class PublishedPlan : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = model::load_model_config(std::string(QL_TEST_DATA) + "/qwen3-vl-30b-a3b");
    ASSERT_TRUE(c.ok()) << c.message();
    config_ = *c;
  }
  MemoryPlan plan(const std::string& precision, PlanRequest request = {}) {
    auto choice = parse_precision(precision);
    EXPECT_TRUE(choice.ok()) << choice.message();
    auto p = plan_memory(config_, choice->policy, request);
    EXPECT_TRUE(p.ok()) << p.message();
    return p.ok() ? *p : MemoryPlan{};
  }
  model::ModelConfig config_;
};

TEST_F(PublishedPlan, Bf16IsTwoBytesPerParameter) {
  const MemoryPlan p = plan("bf16");
  // docs/model.md §2.2 parameter counts, times 2 bytes.
  EXPECT_EQ(p[Component::kVision], 2 * 538'631'408ull);
  EXPECT_EQ(p[Component::kAttention], 2 * 905'981'952ull);
  EXPECT_EQ(p[Component::kTextNorms], 2 * 198'656ull);
  EXPECT_EQ(p[Component::kRouter], 2 * 12'582'912ull);
  EXPECT_EQ(p[Component::kExperts], 2 * 28'991'029'248ull);
  EXPECT_EQ(p[Component::kEmbeddings], 2 * 311'164'928ull);
  EXPECT_EQ(p[Component::kLmHead], 2 * 311'164'928ull);
  EXPECT_EQ(p[Component::kDenseMlp], 0u);
  EXPECT_EQ(p.weights_bytes, 2 * 31'070'754'032ull);
  EXPECT_NEAR(static_cast<double>(p.weights_bytes) / kGiBytes, 57.87, 0.01);
  EXPECT_EQ(plan("fp16").weights_bytes, 2 * 31'070'754'032ull);
}

TEST_F(PublishedPlan, Nf4WeightsByHandAndUnder17Point5GiB) {
  const MemoryPlan p = plan("nf4");
  const auto nf4_matrix = [](uint64_t rows, uint64_t cols) { return nf4(rows * cols); };
  EXPECT_EQ(p[Component::kExperts], experts(nf4_matrix));
  EXPECT_EQ(p[Component::kAttention], attention(nf4_matrix));
  EXPECT_EQ(p[Component::kVision], vision_matrices(nf4_matrix) + 2 * kVision16Elements);
  EXPECT_EQ(p[Component::kRouter], kRouterBf16);
  EXPECT_EQ(p[Component::kEmbeddings], kTableBf16);
  EXPECT_EQ(p[Component::kLmHead], kTableBf16);
  EXPECT_EQ(p[Component::kTextNorms], kTextNormsBf16);
  const uint64_t expected = experts(nf4_matrix) + attention(nf4_matrix) + vision_matrices(nf4_matrix) +
                            2 * kVision16Elements + kRouterBf16 + 2 * kTableBf16 + kTextNormsBf16;
  EXPECT_EQ(p.weights_bytes, expected);
  // The product goal: the NF4 weights of the full model in at most 17.5 GiB,
  // so that they, the KV cache and the workspace fit a 24 GB card.
  EXPECT_LE(p.weights_bytes, 17.5 * kGiBytes);
}

TEST_F(PublishedPlan, Nf4MixedWeightsByHand) {
  const MemoryPlan p = plan("nf4-mixed");
  const auto nf4_matrix = [](uint64_t rows, uint64_t cols) { return nf4(rows * cols); };
  EXPECT_EQ(p[Component::kExperts], experts(nf4_matrix));
  EXPECT_EQ(p[Component::kAttention], attention(int8));
  EXPECT_EQ(p[Component::kLmHead], int8(151936, 2048));
  EXPECT_EQ(p[Component::kVision], 2 * 538'631'408ull);
  EXPECT_EQ(p[Component::kEmbeddings], kTableBf16);
  EXPECT_EQ(p[Component::kRouter], kRouterBf16);
}

TEST_F(PublishedPlan, Int8WeightsByHand) {
  const MemoryPlan p = plan("int8");
  EXPECT_EQ(p[Component::kExperts], experts(int8));
  EXPECT_EQ(p[Component::kAttention], attention(int8));
  EXPECT_EQ(p[Component::kVision], vision_matrices(int8) + 2 * kVision16Elements);
  EXPECT_EQ(p[Component::kLmHead], kTableBf16);
}

TEST_F(PublishedPlan, KvCacheIsBf16KAndVPerLayer) {
  // 2 (K, V) x 48 layers x 4 KV heads x 128 x 8192 tokens x 2 bytes = 768 MiB.
  EXPECT_EQ(plan("nf4").kv_cache_bytes, 2ull * 48 * 4 * 128 * 8192 * 2);
  EXPECT_EQ(plan("nf4").kv_cache_bytes, 768ull << 20);
  PlanRequest r;
  r.context_tokens = 32768;
  r.batch = 4;
  EXPECT_EQ(plan("nf4", r).kv_cache_bytes, 2ull * 48 * 4 * 128 * 32768 * 4 * 2);
  r.kv_element_bytes = 1;
  EXPECT_EQ(plan("nf4", r).kv_cache_bytes, 2ull * 48 * 4 * 128 * 32768 * 4);
}

TEST_F(PublishedPlan, TotalIsTheSumOfItsParts) {
  const MemoryPlan p = plan("nf4-mixed");
  uint64_t components = 0;
  for (uint64_t b : p.component_bytes) components += b;
  EXPECT_EQ(components, p.weights_bytes);
  EXPECT_EQ(p.runtime_overhead_bytes, 512ull << 20);
  EXPECT_EQ(p.total_bytes(), p.weights_bytes + p.kv_cache_bytes + p.workspace_bytes() + (512ull << 20));
}

TEST_F(PublishedPlan, Nf4MixedWith8kContextFitsA24GiBCard) {
  // A "24 GB" card (RTX 4090) has 24 GiB; 0.5 GiB is left to the driver and display.
  auto budget = budget_from_gib(24);
  ASSERT_TRUE(budget.ok()) << budget.message();
  EXPECT_EQ(budget->usable_bytes(), 24 * kGiBytes - (512ull << 20));
  const MemoryPlan p = plan("nf4-mixed");
  const FitCheck fit = check_fit(p, *budget);
  EXPECT_TRUE(fit.fits);
  EXPECT_LE(p.total_bytes(), 23.5 * kGiBytes);
  EXPECT_EQ(fit.margin_bytes, static_cast<int64_t>(23.5 * kGiBytes) - static_cast<int64_t>(p.total_bytes()));
  // The 16-bit model does not, and says by how much.
  const FitCheck bf16 = check_fit(plan("bf16"), *budget);
  EXPECT_FALSE(bf16.fits);
  EXPECT_LT(bf16.margin_bytes, -30 * static_cast<int64_t>(kGiBytes));
}

TEST_F(PublishedPlan, AutoPicksTheHighestPresetThatFits) {
  const PrecisionChoice automatic{true, {}};
  const auto resolved = [&](double gib) {
    auto budget = budget_from_gib(gib);
    EXPECT_TRUE(budget.ok());
    auto p = plan_precision(config_, automatic, {}, *budget);
    EXPECT_TRUE(p.ok()) << p.message();
    return p.ok() ? precision_string(p->policy) : std::string();
  };
  // bf16 needs 57.9 GiB of weights, int8 29.6, nf4-mixed 16.7, nf4 15.8 (plus KV, workspace, runtime).
  EXPECT_EQ(resolved(80), "bf16");
  EXPECT_EQ(resolved(48), "int8");
  EXPECT_EQ(resolved(24), "nf4-mixed");
  EXPECT_EQ(resolved(8), "nf4");  // nothing fits: the smallest, which the caller reports as not fitting
  auto budget = budget_from_gib(8);
  ASSERT_TRUE(budget.ok());
  auto p = plan_precision(config_, automatic, {}, *budget);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(check_fit(*p, *budget).fits);
}

TEST_F(PublishedPlan, AutoWithoutABudgetIsAnError) {
  auto p = plan_precision(config_, PrecisionChoice{true, {}}, {}, std::nullopt);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("budget"), std::string::npos) << p.message();
}

TEST_F(PublishedPlan, BadRequestsNameTheField) {
  PlanRequest r;
  r.context_tokens = 0;
  auto p = plan_memory(config_, PrecisionPolicy{}, r);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("context 0"), std::string::npos) << p.message();
  r = {};
  r.batch = -2;
  p = plan_memory(config_, PrecisionPolicy{}, r);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("batch -2"), std::string::npos) << p.message();
  r = {};
  r.kv_element_bytes = 3;
  p = plan_memory(config_, PrecisionPolicy{}, r);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("1, 2, 4"), std::string::npos) << p.message();
  for (double bad : {0.0, -1.0, 1e9}) EXPECT_FALSE(budget_from_gib(bad).ok()) << bad;
}

}  // namespace
}  // namespace ql::quant
