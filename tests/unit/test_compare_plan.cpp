// Which precisions a comparison loads, in which order, which one is the
// reference; and how the CLI's --precisions list is split.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/engine/compare_plan.h"

namespace {

using ql::engine::plan_compare_precisions;
using ql::engine::split_precision_list;
using Names = std::vector<std::string>;

Names names(const Names& list) {
  auto plan = plan_compare_precisions(list);
  EXPECT_TRUE(plan.ok()) << plan.message();
  Names out;
  if (plan.ok()) {
    for (const auto& p : *plan) out.push_back(p.name + (p.reference ? "*" : "") + (p.added ? "+" : ""));
  }
  return out;
}

TEST(ComparePlan, FirstSixteenBitEntryIsTheReferenceAndRunsFirst) {
  EXPECT_EQ(names({"bf16", "int8", "nf4", "nf4-mixed"}), (Names{"bf16*", "int8", "nf4", "nf4-mixed"}));
  EXPECT_EQ(names({"int8", "fp16", "bf16"}), (Names{"fp16*", "int8", "bf16"}));
  EXPECT_EQ(names({"bf16", "bf16"}), (Names{"bf16*", "bf16"}));
  EXPECT_EQ(names({"INT8", " BF16 "}), (Names{"bf16*", "int8"}));  // canonical names
}

TEST(ComparePlan, WithoutASixteenBitEntryBf16IsAdded) {
  EXPECT_EQ(names({"int8", "nf4"}), (Names{"bf16*+", "int8", "nf4"}));
  // A policy with one quantized component is not 16-bit.
  EXPECT_EQ(names({"bf16,lm_head=int8"}).front(), "bf16*+");
}

TEST(ComparePlan, AllSixteenBitPolicyCanBeTheReference) {
  auto plan = plan_compare_precisions(Names{"int8", "vision=fp16"});
  ASSERT_TRUE(plan.ok()) << plan.message();
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_TRUE((*plan)[0].reference);
  EXPECT_FALSE((*plan)[0].added);
  EXPECT_NE((*plan)[0].name.find("vision=fp16"), std::string::npos) << (*plan)[0].name;
}

TEST(ComparePlan, BadEntriesAreNamed) {
  auto bad = plan_compare_precisions(Names{"bf16", "int9"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("int9"), std::string::npos) << bad.message();
  auto automatic = plan_compare_precisions(Names{"bf16", "auto"});
  ASSERT_FALSE(automatic.ok());
  EXPECT_NE(automatic.message().find("auto"), std::string::npos) << automatic.message();
  EXPECT_FALSE(plan_compare_precisions(Names{}).ok());
}

TEST(ComparePlan, SplitKeepsPoliciesTogether) {
  EXPECT_EQ(split_precision_list("bf16, int8 ,nf4"), (Names{"bf16", "int8", "nf4"}));
  EXPECT_EQ(split_precision_list("nf4,lm_head=bf16,int8"), (Names{"nf4,lm_head=bf16", "int8"}));
  EXPECT_EQ(split_precision_list("experts=nf4,attention=int8,bf16"), (Names{"experts=nf4,attention=int8", "bf16"}));
  EXPECT_EQ(split_precision_list("bf16;experts=nf4,attention=int8"), (Names{"bf16", "experts=nf4,attention=int8"}));
  EXPECT_EQ(split_precision_list("bf16"), (Names{"bf16"}));
}

}  // namespace
