// Which GGUF type each tensor gets: the converter's rules (docs/formats.md §4.3,
// §5.2) and llama-quantize's Q4_K_M / Q4_0 / IQ4_NL mixes (§4.4 and
// src/llama-quant.cpp) on the shapes of the published Qwen3-VL-30B-A3B, of a
// model with 8 experts, and of rows too short for the K-quants. The expected
// types are written out here from those rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/io/gguf/converter_types.h"
#include "core/io/gguf/quantize_mix.h"

namespace ql::io::gguf {
namespace {

// The text tensors of a Qwen3-VL-MoE model in GGUF names and ne order.
std::vector<QuantizeInput> text_tensors(int layers, int64_t H, int64_t heads, int64_t kv, int64_t hd, int64_t E,
                                        int64_t I, int64_t vocab) {
  std::vector<QuantizeInput> t;
  auto add = [&](std::string name, std::vector<int64_t> ne) {
    const GgmlType type = converter_tensor_type(name, ne, GgmlType::kBF16, false);
    t.push_back({std::move(name), std::move(ne), type});
  };
  add("token_embd.weight", {H, vocab});
  add("output.weight", {H, vocab});
  add("output_norm.weight", {H});
  for (int l = 0; l < layers; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    add(b + "attn_norm.weight", {H});
    add(b + "attn_q.weight", {H, heads * hd});
    add(b + "attn_k.weight", {H, kv * hd});
    add(b + "attn_v.weight", {H, kv * hd});
    add(b + "attn_output.weight", {heads * hd, H});
    add(b + "attn_q_norm.weight", {hd});
    add(b + "attn_k_norm.weight", {hd});
    add(b + "ffn_norm.weight", {H});
    add(b + "ffn_gate_inp.weight", {H, E});
    add(b + "ffn_gate_exps.weight", {H, I, E});
    add(b + "ffn_up_exps.weight", {H, I, E});
    add(b + "ffn_down_exps.weight", {I, H, E});
  }
  std::stable_sort(t.begin(), t.end(),
                   [](const QuantizeInput& a, const QuantizeInput& b) { return llama_quantize_order(a.name, b.name); });
  return t;
}

std::map<std::string, GgmlType> types_by_name(const std::vector<QuantizeInput>& in,
                                              const std::vector<QuantizeChoice>& out) {
  std::map<std::string, GgmlType> m;
  for (size_t i = 0; i < in.size(); ++i) m[in[i].name] = out[i].type;
  return m;
}

bool is_f32_kind(const std::string& name) {
  return name.ends_with("norm.weight") || name.find("ffn_gate_inp") != std::string::npos;
}

// use_more_bits(i, 48): i < 6, i >= 42, or (i - 6) % 3 == 2.
const std::set<int> kMoreBits48 = {0, 1, 2, 3, 4, 5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35, 38, 41,
                                   42, 43, 44, 45, 46, 47};

const QuantizeModel kQwen30B{48, 128, 32, 4};

TEST(GgufTypeRules, ConverterTypesOfThePublishedModel) {
  for (GgmlType out : {GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0}) {
    for (const QuantizeInput& t : text_tensors(2, 2048, 32, 4, 128, 128, 768, 151936)) {
      const GgmlType got = converter_tensor_type(t.name, t.ne, out, false);
      EXPECT_EQ(got, is_f32_kind(t.name) ? GgmlType::kF32 : out) << t.name;
    }
  }
  // mmproj: patch kernels F16 only in an F16 file; the position table F32;
  // Q8_0 falls back to F16 for the 4304-wide ffn_down rows.
  EXPECT_EQ(converter_tensor_type("v.patch_embd.weight", {16, 16, 3, 1152}, GgmlType::kF16, true), GgmlType::kF16);
  EXPECT_EQ(converter_tensor_type("v.patch_embd.weight.1", {16, 16, 3, 1152}, GgmlType::kBF16, true), GgmlType::kF32);
  EXPECT_EQ(converter_tensor_type("v.position_embd.weight", {1152, 2304}, GgmlType::kF16, true), GgmlType::kF32);
  EXPECT_EQ(converter_tensor_type("v.blk.3.ffn_down.weight", {4304, 1152}, GgmlType::kQ8_0, true), GgmlType::kF16);
  EXPECT_EQ(converter_tensor_type("v.blk.3.ffn_up.weight", {1152, 4304}, GgmlType::kQ8_0, true), GgmlType::kQ8_0);
  EXPECT_EQ(converter_tensor_type("v.blk.3.attn_qkv.bias", {3456}, GgmlType::kBF16, true), GgmlType::kF32);
  EXPECT_EQ(converter_tensor_type("mm.0.weight", {4608, 4608}, GgmlType::kBF16, true), GgmlType::kBF16);
  EXPECT_EQ(converter_tensor_type("v.deepstack.8.norm.weight", {4608}, GgmlType::kF16, true), GgmlType::kF32);
}

TEST(GgufTypeRules, Q4KMOfThePublishedModel) {
  const auto in = text_tensors(48, 2048, 32, 4, 128, 128, 768, 151936);
  const auto out = llama_quantize_types(in, LlamaFtype::kMostlyQ4_K_M, kQwen30B);
  const auto types = types_by_name(in, out);
  EXPECT_EQ(types.at("token_embd.weight"), GgmlType::kQ4_K);
  EXPECT_EQ(types.at("output.weight"), GgmlType::kQ6_K);
  EXPECT_EQ(types.at("output_norm.weight"), GgmlType::kF32);
  for (int l = 0; l < 48; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    const GgmlType bumped = kMoreBits48.count(l) ? GgmlType::kQ6_K : GgmlType::kQ4_K;
    EXPECT_EQ(types.at(b + "attn_v.weight"), bumped) << l;
    EXPECT_EQ(types.at(b + "ffn_down_exps.weight"), bumped) << l;
    for (const char* n : {"attn_q.weight", "attn_k.weight", "attn_output.weight", "ffn_gate_exps.weight",
                          "ffn_up_exps.weight"})
      EXPECT_EQ(types.at(b + n), GgmlType::kQ4_K) << b << n;
    for (const char* n : {"attn_norm.weight", "attn_q_norm.weight", "attn_k_norm.weight", "ffn_norm.weight",
                          "ffn_gate_inp.weight"})
      EXPECT_EQ(types.at(b + n), GgmlType::kF32) << b << n;
  }
  for (const auto& c : out) EXPECT_TRUE(c.refused.empty()) << c.refused;
  // llama_model_loader's order: outside blocks first, then by block number.
  EXPECT_EQ(in[0].name, "output.weight");
  EXPECT_EQ(in[1].name, "output_norm.weight");
  EXPECT_EQ(in[2].name, "token_embd.weight");
  EXPECT_EQ(in[3].name, "blk.0.attn_k.weight");
  EXPECT_EQ(in[3 + 12].name, "blk.1.attn_k.weight");
  EXPECT_EQ(in.back().name, "blk.47.ffn_up_exps.weight");
}

TEST(GgufTypeRules, Q4_0AndIq4NlOfThePublishedModel) {
  const auto in = text_tensors(48, 2048, 32, 4, 128, 128, 768, 151936);
  const auto q40 = types_by_name(in, llama_quantize_types(in, LlamaFtype::kMostlyQ4_0, kQwen30B));
  const auto iq4 = types_by_name(in, llama_quantize_types(in, LlamaFtype::kMostlyIQ4_NL, kQwen30B));
  EXPECT_EQ(q40.at("output.weight"), GgmlType::kQ6_K);
  EXPECT_EQ(iq4.at("output.weight"), GgmlType::kQ6_K);
  EXPECT_EQ(q40.at("token_embd.weight"), GgmlType::kQ4_0);
  EXPECT_EQ(iq4.at("token_embd.weight"), GgmlType::kIQ4_NL);
  for (int l = 0; l < 48; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    for (const char* n : {"attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                          "ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight"})
      EXPECT_EQ(q40.at(b + n), GgmlType::kQ4_0) << b << n;
    // IQ4_NL: attn_v gets Q5_K (GQA 8 >= 4), ffn_down the first n/8 = 6 layers.
    EXPECT_EQ(iq4.at(b + "attn_v.weight"), GgmlType::kQ5_K) << l;
    EXPECT_EQ(iq4.at(b + "ffn_down_exps.weight"), l < 6 ? GgmlType::kQ5_K : GgmlType::kIQ4_NL) << l;
    for (const char* n : {"attn_q.weight", "attn_k.weight", "attn_output.weight", "ffn_gate_exps.weight"})
      EXPECT_EQ(iq4.at(b + n), GgmlType::kIQ4_NL) << b << n;
  }
}

// With exactly 8 experts llama-quantize bumps attn_k / attn_v to Q8_0 and
// (Q4_K_M, IQ4_NL) attn_output to Q5_K, whatever the mix.
TEST(GgufTypeRules, EightExpertBumps) {
  const QuantizeModel m{4, 8, 4, 2};
  const auto in = text_tensors(4, 256, 4, 2, 64, 8, 256, 512);
  for (LlamaFtype f : {LlamaFtype::kMostlyQ4_K_M, LlamaFtype::kMostlyQ4_0, LlamaFtype::kMostlyIQ4_NL}) {
    const auto types = types_by_name(in, llama_quantize_types(in, f, m));
    for (int l = 0; l < 4; ++l) {
      const std::string b = fmt::format("blk.{}.", l);
      EXPECT_EQ(types.at(b + "attn_k.weight"), GgmlType::kQ8_0);
      EXPECT_EQ(types.at(b + "attn_v.weight"), GgmlType::kQ8_0);
      EXPECT_EQ(types.at(b + "attn_output.weight"),
                f == LlamaFtype::kMostlyQ4_0 ? GgmlType::kQ4_0 : GgmlType::kQ5_K);
    }
  }
}

// Rows of 24 and 64 (the demo model): Q4_K falls back to Q5_0 then F16,
// Q5_K to Q5_1, Q6_K to Q8_0; a Q8_0, Q4_0 or IQ4_NL target on a row that is
// not a multiple of 32 has no fallback in llama-quantize (it stops): we
// write F16 and say so.
TEST(GgufTypeRules, FallbacksForShortRows) {
  const QuantizeModel m{4, 8, 4, 2};
  const auto in = text_tensors(4, 24, 4, 2, 16, 8, 20, 151936);
  const auto out = llama_quantize_types(in, LlamaFtype::kMostlyQ4_K_M, m);
  const auto types = types_by_name(in, out);
  EXPECT_EQ(types.at("token_embd.weight"), GgmlType::kF16);          // Q4_K -> Q5_0 -> F16
  EXPECT_EQ(types.at("output.weight"), GgmlType::kF16);              // Q8_0: refused
  EXPECT_EQ(types.at("blk.0.attn_output.weight"), GgmlType::kQ5_1);  // Q5_K -> Q5_1 (rows of 64)
  EXPECT_EQ(types.at("blk.0.attn_q.weight"), GgmlType::kF16);
  EXPECT_EQ(types.at("blk.0.ffn_down_exps.weight"), GgmlType::kF16);  // rows of 20
  std::set<std::string> refused;
  for (size_t i = 0; i < in.size(); ++i)
    if (!out[i].refused.empty()) {
      refused.insert(in[i].name);
      EXPECT_NE(out[i].refused.find("llama-quantize stops"), std::string::npos) << out[i].refused;
    }
  EXPECT_EQ(refused, (std::set<std::string>{"output.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
                                            "blk.1.attn_k.weight", "blk.1.attn_v.weight", "blk.2.attn_k.weight",
                                            "blk.2.attn_v.weight", "blk.3.attn_k.weight", "blk.3.attn_v.weight"}));

  // A row of 64 for the Q6_K output falls back to Q8_0 (64 % 32 == 0).
  const auto wide = text_tensors(1, 64, 4, 2, 16, 4, 64, 1000);
  const auto wt = types_by_name(wide, llama_quantize_types(wide, LlamaFtype::kMostlyQ4_0, {1, 4, 4, 2}));
  EXPECT_EQ(wt.at("output.weight"), GgmlType::kQ8_0);
  EXPECT_EQ(wt.at("token_embd.weight"), GgmlType::kQ4_0);
}

// Without output.weight (tied embeddings) token_embd takes the output's rule.
TEST(GgufTypeRules, TiedEmbeddingsTakeTheOutputType) {
  auto in = text_tensors(1, 256, 4, 2, 64, 4, 256, 1000);
  std::erase_if(in, [](const QuantizeInput& t) { return t.name == "output.weight"; });
  const auto types = types_by_name(in, llama_quantize_types(in, LlamaFtype::kMostlyQ4_K_M, {1, 4, 4, 2}));
  EXPECT_EQ(types.at("token_embd.weight"), GgmlType::kQ6_K);
}

}  // namespace
}  // namespace ql::io::gguf
