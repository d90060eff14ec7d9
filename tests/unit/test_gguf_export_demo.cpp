// Round trips of the shipped demo model (real 151,936-token vocabulary, hidden
// 24, 8 experts, two shards) at every precision, and of tests/data tiny-c
// (experts stored [E, out, in], a dense layer, transformers-5 rope keys) with
// a cut-down tokenizer. Names, shapes and types come from tables written out
// here; 16/32-bit values must equal the source exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/io/gguf/gguf_reader.h"
#include "core/io/gguf_export.h"
#include "core/text/tokenizer.h"
#include "tests/unit/gguf_test_support.h"

namespace ql::io::gguf {
namespace {

namespace fs = std::filesystem;
using namespace ql::io::gguf::testing;

const std::string kDemo = std::string(QL_TEST_DATA) + "/../../resources/demo-model";

Result<ExportResult> run_export(const std::string& model_dir, const std::string& precision, const std::string& out) {
  ExportRequest req;
  req.model_dir = model_dir;
  req.precision = precision;
  req.out_dir = out;
  req.threads = 2;
  fs::create_directories(out);
  auto ck = model::Checkpoint::open(model_dir);
  if (!ck) return ck.error();
  auto cfg = model::load_model_config(model_dir);
  if (!cfg) return cfg.error();
  ExportContext ctx({}, nullptr, 0);
  ExportResult result;
  auto st = write_gguf_export(req, *ck, *cfg, ctx, result);
  if (!st) return st.error();
  return result;
}

// A checkpoint tensor's values, decoded here from its bf16 bytes.
SourceTensor source(const model::Checkpoint& ck, const std::string& name) {
  SourceTensor s;
  auto v = ck.find(name);
  EXPECT_TRUE(v) << name;
  if (!v) return s;
  s.shape.assign(v->shape.begin(), v->shape.end());
  EXPECT_EQ(v->dtype, model::DType::kBF16) << name;
  for (int64_t i = 0; i < v->numel(); ++i) {
    uint16_t h;
    std::memcpy(&h, v->data + 2 * i, 2);
    s.values.push_back(bf16_to_f32(h));
  }
  return s;
}

std::vector<float> as_f16(const std::vector<float>& v) {
  std::vector<float> out;
  for (float x : v) out.push_back(f16_to_f32(f32_to_f16(x)));
  return out;
}

// The demo's weight types per precision (hidden 24, expert width 20, o_proj
// rows of 64): only rows of 64 are whole blocks of 32; everything else falls
// back to F16 (Q8_0 in the converter; Q4_K -> Q5_0 -> F16, or a refused target
// written as F16 for the llama-quantize mixes).
GgmlType demo_weight_type(const std::string& name, const std::string& precision) {
  const bool o_proj = name.ends_with("attn_output.weight");
  if (precision == "bf16") return GgmlType::kBF16;
  if (precision == "f16") return GgmlType::kF16;
  if (!o_proj) return GgmlType::kF16;
  if (precision == "q8_0") return GgmlType::kQ8_0;
  if (precision == "q4_0") return GgmlType::kQ4_0;
  return GgmlType::kQ5_1;  // 8 experts: Q5_K, whose 256-blocks do not fit 64 -> Q5_1
}

class GgufDemoPrecision : public ::testing::TestWithParam<const char*> {};

TEST_P(GgufDemoPrecision, TensorsTokenizerAndNotes) {
  const std::string precision = GetParam();
  model::testing::TempDir tmp;
  auto result = run_export(kDemo, precision, tmp.path());
  ASSERT_TRUE(result) << result.message();
  std::string tag = precision;
  for (char& c : tag) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto text = GgufFile::open(tmp.file("demo-model-" + tag + ".gguf"));
  ASSERT_TRUE(text) << text.message();
  auto ck = model::Checkpoint::open(kDemo);
  ASSERT_TRUE(ck);

  // Every text tensor: 3 outside the blocks + 12 per layer (4 layers).
  ASSERT_EQ(text->tensors().size(), 3u + 12 * 4);
  for (int l = 0; l < 4; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    const std::map<std::string, std::vector<int64_t>> shapes = {
        {"attn_norm.weight", {24}},       {"attn_q.weight", {24, 64}},     {"attn_k.weight", {24, 32}},
        {"attn_v.weight", {24, 32}},      {"attn_output.weight", {64, 24}}, {"attn_q_norm.weight", {16}},
        {"attn_k_norm.weight", {16}},     {"ffn_norm.weight", {24}},        {"ffn_gate_inp.weight", {24, 8}},
        {"ffn_gate_exps.weight", {24, 20, 8}}, {"ffn_up_exps.weight", {24, 20, 8}},
        {"ffn_down_exps.weight", {20, 24, 8}}};
    for (const auto& [n, ne] : shapes) {
      const GgufTensorInfo* t = text->find_tensor(b + n);
      ASSERT_TRUE(t) << b + n;
      EXPECT_EQ(t->ne, ne) << b + n;
      const bool f32 = ne.size() == 1 || n == "ffn_gate_inp.weight";
      EXPECT_EQ(t->type, f32 ? GgmlType::kF32 : demo_weight_type(n, precision)) << b + n;
    }
  }
  for (const char* n : {"token_embd.weight", "output.weight"}) {
    const GgufTensorInfo* t = text->find_tensor(n);
    ASSERT_TRUE(t) << n;
    EXPECT_EQ(t->ne, (std::vector<int64_t>{24, 151936}));
    EXPECT_EQ(t->type, demo_weight_type(n, precision)) << n;
  }

  // Values: the router (F32), an attention weight and the permuted experts of layer 1.
  const std::string L = "model.language_model.layers.1.";
  auto router = text->dequantize(*text->find_tensor("blk.1.ffn_gate_inp.weight"));
  EXPECT_EQ(*router, source(*ck, L + "mlp.gate.weight").values);
  if (precision == "f16" || precision == "bf16") {
    auto q = text->dequantize(*text->find_tensor("blk.1.attn_q.weight"));
    const auto q_src = source(*ck, L + "self_attn.q_proj.weight").values;
    EXPECT_EQ(*q, precision == "f16" ? as_f16(q_src) : q_src);
    auto stored = [&](std::vector<float> v) { return precision == "f16" ? as_f16(v) : v; };
    const SourceTensor gate_up = source(*ck, L + "mlp.experts.gate_up_proj");
    EXPECT_EQ(*text->dequantize(*text->find_tensor("blk.1.ffn_gate_exps.weight")),
              stored(expert_half_in_out(gate_up, false)));
    EXPECT_EQ(*text->dequantize(*text->find_tensor("blk.1.ffn_up_exps.weight")), stored(expert_half_in_out(gate_up, true)));
    EXPECT_EQ(*text->dequantize(*text->find_tensor("blk.1.ffn_down_exps.weight")),
              stored(expert_down_in_out(source(*ck, L + "mlp.experts.down_proj"))));
  }

  // The vocabulary: every id of the embedding, ids past the tokenizer as fillers.
  const GgufValue* tokens = text->find("tokenizer.ggml.tokens");
  const GgufValue* types = text->find("tokenizer.ggml.token_type");
  ASSERT_EQ(tokens->count(), 151936u);
  EXPECT_EQ(tokens->strings[151643], "<|endoftext|>");
  EXPECT_EQ(tokens->strings[151668], "</think>");
  EXPECT_EQ(tokens->strings[151669], "[PAD151669]");
  EXPECT_EQ(types->ints[151643], 3u);  // special
  EXPECT_EQ(types->ints[151659], 3u);  // <|fim_prefix|>: not special, looks special
  EXPECT_EQ(types->ints[151657], 4u);  // <tool_call>
  EXPECT_EQ(types->ints[151667], 4u);  // <think>
  EXPECT_EQ(types->ints[151935], 5u);
  EXPECT_EQ(types->ints[1000], 1u);
  auto tok = text::Tokenizer::load(QL_DEFAULT_TOKENIZER);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tokens->strings[1000], std::string(tok->id_to_token(1000)));
  ASSERT_EQ(text->find("tokenizer.ggml.merges")->count(), tok->merge_count());
  EXPECT_EQ(text->find("tokenizer.ggml.eos_token_id")->as_u64(), 151645u);
  EXPECT_EQ(text->find("tokenizer.ggml.padding_token_id")->as_u64(), 151643u);
  EXPECT_EQ(text->find("tokenizer.ggml.bos_token_id")->as_u64(), 151643u);
  // tokenizer_config.json's own template wins over chat_template.json (SpecialVocab's order).
  const auto tc = nlohmann::json::parse(model::testing::read_file(kDemo + "/tokenizer_config.json"));
  EXPECT_EQ(text->find("tokenizer.chat_template")->as_string(), tc["chat_template"].get<std::string>());
  EXPECT_EQ(text->find("general.name")->as_string(), "Demo Model");

  // The mmproj: two deepstack mergers at blocks 0 and 1, patch kernel split in frames.
  auto mm = GgufFile::open(result->files.at(1).path);
  ASSERT_TRUE(mm) << mm.message();
  for (const char* n : {"v.deepstack.0.fc1.weight", "v.deepstack.1.fc2.bias", "v.patch_embd.weight.1", "mm.2.weight",
                        "v.post_ln.weight", "v.blk.2.attn_qkv.weight"})
    EXPECT_TRUE(mm->find_tensor(n)) << n;
  const SourceTensor patch = source(*ck, "model.visual.patch_embed.proj.weight");
  const GgufTensorInfo* p1 = mm->find_tensor("v.patch_embd.weight.1");
  EXPECT_EQ(p1->ne, (std::vector<int64_t>{16, 16, 3, 32}));
  if (precision == "bf16") {
    EXPECT_EQ(p1->type, GgmlType::kF32);
    EXPECT_EQ(*mm->dequantize(*p1), patch_frame(patch, 1));
  } else {
    EXPECT_EQ(p1->type, GgmlType::kF16);
    EXPECT_EQ(*mm->dequantize(*p1), as_f16(patch_frame(patch, 1)));
  }

  // What llama-quantize would refuse is said, tensor by tensor.
  size_t refused = 0;
  for (const std::string& n : result->notes) refused += n.find("llama-quantize stops") != std::string::npos;
  const std::map<std::string, size_t> expected_refusals = {{"f16", 0}, {"bf16", 0}, {"q8_0", 0},
                                                           {"q4_k_m", 9}, {"iq4_nl", 26}, {"q4_0", 26}};
  EXPECT_EQ(refused, expected_refusals.at(precision));
}

INSTANTIATE_TEST_SUITE_P(AllPrecisions, GgufDemoPrecision,
                         ::testing::Values("f16", "bf16", "q8_0", "q4_k_m", "q4_0", "iq4_nl"));

}  // namespace
}  // namespace ql::io::gguf
