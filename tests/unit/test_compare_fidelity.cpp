// The fidelity metrics (core/engine/fidelity*.h) on distributions small
// enough to work out by hand: KL divergence, first-max argmax, the
// nearest-rank percentile and the tally of one precision's positions.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/engine/fidelity.h"
#include "core/engine/fidelity_summary.h"

namespace {

using ql::engine::argmax_first;
using ql::engine::FidelityTally;
using ql::engine::kl_divergence;
using ql::engine::nearest_rank_percentile;
using Row = std::vector<float>;

double kl(const Row& p, const Row& q) {
  auto r = kl_divergence(p, q);
  EXPECT_TRUE(r.ok()) << r.message();
  return r.ok() ? *r : -1;
}

TEST(CompareFidelity, IdenticalRowsHaveZeroDivergence) {
  EXPECT_EQ(kl({1.5f, -2.0f, 0.25f, 3.0f}, {1.5f, -2.0f, 0.25f, 3.0f}), 0.0);
  EXPECT_EQ(kl({7.0f}, {-3.0f}), 0.0);  // one token: both distributions are certain
}

// P = softmax(0, 0) = (1/2, 1/2), Q = softmax(0, ln 3) = (1/4, 3/4):
// KL(P||Q) = 1/2 ln(2) + 1/2 ln(2/3) = 1/2 ln(4/3) = 0.1438410362...
// KL(Q||P) = 1/4 ln(1/2) + 3/4 ln(3/2) = 3/4 ln 3 - ln 2 = 0.1308120537...
TEST(CompareFidelity, TwoWayDistributionWorkedByHand) {
  const float ln3 = 1.0986123f;
  EXPECT_NEAR(kl({0.0f, 0.0f}, {0.0f, ln3}), 0.1438410362, 1e-7);
  EXPECT_NEAR(kl({0.0f, ln3}, {0.0f, 0.0f}), 0.1308120537, 1e-7);
}

// P = (1/2, 1/2), Q = softmax(0, 1) = (1, e)/(1 + e):
// KL = 1/2 ln((1+e)/2) + 1/2 ln((1+e)/(2e)) = ln((1+e)/2) - 1/2 = 0.1201145...
// Shifting every logit of a row leaves its distribution unchanged; at +-1000
// a plain float softmax would overflow or underflow to 0/0.
TEST(CompareFidelity, ShiftedLogitsGiveTheSameDivergence) {
  EXPECT_NEAR(kl({0.0f, 0.0f}, {0.0f, 1.0f}), 0.1201145, 1e-6);
  EXPECT_NEAR(kl({1000.0f, 1000.0f}, {1000.0f, 1001.0f}), 0.1201145, 1e-6);
  EXPECT_NEAR(kl({-1000.0f, -1000.0f}, {5.0f, 6.0f}), 0.1201145, 1e-6);
}

// P = (1, e^-10000) and Q = (e^-10000, 1), as far as doubles go: P puts all
// its mass where Q has log-probability -10000, so KL = 10000 (not inf or NaN).
TEST(CompareFidelity, NearlyDisjointDistributionsStayFinite) {
  EXPECT_NEAR(kl({10000.0f, 0.0f}, {0.0f, 10000.0f}), 10000.0, 1e-9);
}

TEST(CompareFidelity, ThreeWayAgainstUniform) {
  // P = (1/2, 1/4, 1/4) from logits ln(2, 1, 1); Q uniform:
  // KL = 1/2 ln(3/2) + 2 * 1/4 ln(3/4) = 1/2 ln(9/8) = 0.0588915...
  const float ln2 = 0.6931472f;
  EXPECT_NEAR(kl({ln2, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f}), 0.0588915, 1e-6);
}

TEST(CompareFidelity, BadRowsAreErrorsNamingTheCulprit) {
  auto lengths = kl_divergence(Row{0, 1, 2}, Row{0, 1});
  ASSERT_FALSE(lengths.ok());
  EXPECT_NE(lengths.message().find("3 vs compared 2"), std::string::npos) << lengths.message();
  EXPECT_FALSE(kl_divergence(Row{}, Row{}).ok());
  auto nan = kl_divergence(Row{0, 1, 2}, Row{0, std::numeric_limits<float>::quiet_NaN(), 2});
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.message().find("compared logit 1"), std::string::npos) << nan.message();
  auto inf = kl_divergence(Row{std::numeric_limits<float>::infinity(), 1}, Row{0, 1});
  ASSERT_FALSE(inf.ok());
  EXPECT_NE(inf.message().find("reference logit 0"), std::string::npos) << inf.message();
}

TEST(CompareFidelity, ArgmaxTakesTheFirstOfTiedMaxima) {
  EXPECT_EQ(argmax_first(Row{1, 3, 3, 2}), 1u);
  EXPECT_EQ(argmax_first(Row{5, 5}), 0u);
  EXPECT_EQ(argmax_first(Row{-4, -2, -9}), 1u);
  EXPECT_EQ(argmax_first(Row{0.5f}), 0u);
}

// Nearest rank: the value of 1-based rank ceil(p * n / 100) in ascending order.
TEST(CompareFidelity, NearestRankPercentile) {
  const std::vector<double> v = {40, 15, 50, 35, 20};  // sorted: 15 20 35 40 50
  auto at = [&](const std::vector<double>& values, int p) {
    auto r = nearest_rank_percentile(values, p);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? *r : -1.0;
  };
  EXPECT_EQ(at(v, 1), 15);    // rank ceil(0.05) = 1
  EXPECT_EQ(at(v, 30), 20);   // rank ceil(1.5) = 2
  EXPECT_EQ(at(v, 40), 20);   // rank 2 exactly
  EXPECT_EQ(at(v, 50), 35);   // rank ceil(2.5) = 3
  EXPECT_EQ(at(v, 99), 50);   // rank ceil(4.95) = 5
  EXPECT_EQ(at(v, 100), 50);

  std::vector<double> hundred, two_hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);  // descending: the function sorts
  for (int i = 1; i <= 200; ++i) two_hundred.push_back(i);
  EXPECT_EQ(at(hundred, 99), 99);       // rank 99
  EXPECT_EQ(at(two_hundred, 99), 198);  // rank 198
  hundred.push_back(1000);              // 101 values: rank ceil(99.99) = 100
  EXPECT_EQ(at(hundred, 99), 100);

  EXPECT_FALSE(nearest_rank_percentile(std::vector<double>{}, 99).ok());
  EXPECT_FALSE(nearest_rank_percentile(v, 0).ok());
  EXPECT_FALSE(nearest_rank_percentile(v, 101).ok());
}

TEST(CompareFidelity, TallySummarisesPositions) {
  FidelityTally t;
  EXPECT_FALSE(t.summary().ok());  // nothing compared is not a perfect score
  t.add(0.1, true);
  t.add(0.3, false);
  t.add(0.2, true);
  t.add(0.4, true);
  auto s = t.summary();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(s->positions, 4);
  EXPECT_NEAR(s->kl_mean, 0.25, 1e-15);
  EXPECT_EQ(s->kl_p99, 0.4);  // rank ceil(3.96) = 4 of 4
  EXPECT_EQ(s->top1_agreement, 0.75);
}

}  // namespace
