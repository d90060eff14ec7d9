// Precision policies: presets, explicit lists, a preset with overrides, the
// errors (each naming the culprit and the valid choices), and the canonical
// string round trip.
#include <gtest/gtest.h>

#include <string>

#include "core/quant/precision_policy.h"

namespace ql::quant {
namespace {

constexpr QuantFormat B = QuantFormat::kBF16, H = QuantFormat::kF16, I8 = QuantFormat::kInt8Rowwise,
                      N4 = QuantFormat::kNf4;

// Formats in kPolicyKeys order: vision, attention, router, experts, embeddings, lm_head, norms.
PrecisionPolicy policy_of(QuantFormat vision, QuantFormat attention, QuantFormat router, QuantFormat experts,
                          QuantFormat embeddings, QuantFormat lm_head, QuantFormat norms) {
  PrecisionPolicy p;
  p.formats = {vision, attention, router, experts, embeddings, lm_head, norms};
  return p;
}

PrecisionPolicy parsed(const std::string& text) {
  auto r = parse_precision(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.message());
  EXPECT_FALSE(r.ok() && r->automatic) << text;
  return r.ok() ? r->policy : PrecisionPolicy{};
}

std::string error_of(const std::string& text) {
  auto r = parse_precision(text);
  EXPECT_FALSE(r.ok()) << text << " parsed";
  return r.ok() ? "" : r.message();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(QuantPolicyParse, PresetsGiveTheDocumentedFormats) {
  EXPECT_EQ(parsed("bf16"), policy_of(B, B, B, B, B, B, B));
  EXPECT_EQ(parsed("fp16"), policy_of(H, H, H, H, H, H, H));
  // Vision linears, attention and experts quantized; router, embeddings, lm_head, norms 16-bit.
  EXPECT_EQ(parsed("int8"), policy_of(I8, I8, B, I8, B, B, B));
  EXPECT_EQ(parsed("nf4"), policy_of(N4, N4, B, N4, B, B, B));
  // Experts NF4, attention INT8, router/vision/norms BF16, lm_head INT8.
  EXPECT_EQ(parsed("nf4-mixed"), policy_of(B, I8, B, N4, B, I8, B));
}

TEST(QuantPolicyParse, AutoIsARequestNotAPolicy) {
  auto r = parse_precision("auto");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(r->automatic);
  EXPECT_EQ(precision_string(*r), "auto");
}

TEST(QuantPolicyParse, ExplicitListLeavesUnspecifiedKeysBf16) {
  EXPECT_EQ(parsed("experts=int8"), policy_of(B, B, B, I8, B, B, B));
  EXPECT_EQ(parsed("experts=nf4,attention=int8,vision=bf16,lm_head=int8"), policy_of(B, I8, B, N4, B, I8, B));
  EXPECT_EQ(parsed("router=fp16,embeddings=nf4,norms=fp16"), policy_of(B, B, H, B, N4, B, H));
}

TEST(QuantPolicyParse, PresetThenOverrides) {
  EXPECT_EQ(parsed("nf4,lm_head=int8"), policy_of(N4, N4, B, N4, B, I8, B));
  EXPECT_EQ(parsed("nf4-mixed,vision=int8,norms=fp16"), policy_of(I8, I8, B, N4, B, I8, H));
  EXPECT_EQ(parsed("fp16,experts=nf4"), policy_of(H, H, H, N4, H, H, H));
}

TEST(QuantPolicyParse, CaseAndSpacesAreForgiven) {
  EXPECT_EQ(parsed(" NF4 , LM_Head = INT8 "), policy_of(N4, N4, B, N4, B, I8, B));
}

TEST(QuantPolicyParse, UnknownKeyListsTheValidKeys) {
  const std::string e = error_of("expert=nf4");
  EXPECT_TRUE(contains(e, "\"expert\"")) << e;
  EXPECT_TRUE(contains(e, "vision, attention, router, experts, embeddings, lm_head, norms")) << e;
}

TEST(QuantPolicyParse, UnknownFormatListsTheValidFormats) {
  const std::string e = error_of("experts=q4_k");
  EXPECT_TRUE(contains(e, "\"q4_k\"")) << e;
  EXPECT_TRUE(contains(e, "experts")) << e;
  EXPECT_TRUE(contains(e, "bf16, fp16, int8, nf4")) << e;
}

TEST(QuantPolicyParse, UnknownPresetListsPresetsAndKeys) {
  for (const std::string text : {"nf8", "", "  "}) {
    const std::string e = error_of(text);
    EXPECT_TRUE(contains(e, "bf16, fp16, int8, nf4-mixed, nf4, auto")) << e;
    EXPECT_TRUE(contains(e, "vision, attention, router, experts, embeddings, lm_head, norms")) << e;
  }
  EXPECT_TRUE(contains(error_of("nf8"), "\"nf8\""));
}

TEST(QuantPolicyParse, NormsAcceptOnly16BitFormats) {
  const std::string e = error_of("norms=nf4");
  EXPECT_TRUE(contains(e, "norms")) << e;
  EXPECT_TRUE(contains(e, "bf16, fp16")) << e;
  EXPECT_FALSE(parse_precision("norms=int8").ok());
}

TEST(QuantPolicyParse, MalformedListsAreErrors) {
  EXPECT_TRUE(contains(error_of("experts=nf4,experts=int8"), "twice"));
  EXPECT_TRUE(contains(error_of("auto,experts=nf4"), "auto"));
  EXPECT_TRUE(contains(error_of("experts=nf4,nf4"), "\"nf4\""));  // a preset only comes first
  EXPECT_TRUE(contains(error_of("nf4,"), "key=format"));
  EXPECT_TRUE(contains(error_of("experts="), "\"\""));
}

TEST(QuantPolicyParse, CanonicalStringIsThePresetNameWhenThereIsOne) {
  EXPECT_EQ(precision_string(policy_of(B, I8, B, N4, B, I8, B)), "nf4-mixed");
  EXPECT_EQ(precision_string(policy_of(N4, N4, B, N4, B, B, B)), "nf4");
  EXPECT_EQ(precision_string(policy_of(B, B, B, B, B, B, B)), "bf16");
  EXPECT_EQ(precision_string(policy_of(N4, N4, B, N4, B, I8, B)),
            "vision=nf4,attention=nf4,router=bf16,experts=nf4,embeddings=bf16,lm_head=int8,norms=bf16");
}

TEST(QuantPolicyParse, EveryPolicyRoundTripsThroughItsCanonicalString) {
  const QuantFormat all[] = {B, H, I8, N4};
  int checked = 0;
  // Every combination of the six quantizable keys, with either 16-bit norms.
  for (int code = 0; code < 4 * 4 * 4 * 4 * 4 * 4 * 2; ++code) {
    PrecisionPolicy p;
    int c = code;
    for (size_t k = 0; k + 1 < kPolicyKeyCount; ++k, c /= 4) p.formats[k] = all[c % 4];
    p[PolicyKey::kNorms] = c % 2 ? H : B;
    const std::string s = precision_string(p);
    auto back = parse_precision(s);
    ASSERT_TRUE(back.ok()) << s << ": " << back.message();
    ASSERT_FALSE(back->automatic);
    ASSERT_EQ(back->policy, p) << s;
    ++checked;
  }
  EXPECT_EQ(checked, 8192);
}

}  // namespace
}  // namespace ql::quant
