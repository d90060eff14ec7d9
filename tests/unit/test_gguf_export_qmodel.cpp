// Round trips of a checkpoint whose widths suit every block format (hidden
// 256, expert width 256, GQA 4, one dense layer; two shards): exported at each
// of the six precisions, read back with the GGUF reader, every tensor checked
// for name, order, shape, type (the mapping and type tables written out
// below from docs/formats.md §4-§5 and llama-quant.cpp) and values (16/32-bit
// exact, quantized within each format's error), plus the metadata keys.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/io/gguf/gguf_reader.h"
#include "core/io/gguf_export.h"
#include "tests/unit/gguf_test_support.h"

namespace ql::io::gguf {
namespace {

namespace fs = std::filesystem;
using namespace ql::io::gguf::testing;

struct Expected {
  std::string name;
  std::vector<int64_t> ne;
  GgmlType type;
  std::vector<float> values;  // in GGUF order
};

class GgufQmodelExport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new model::testing::TempDir();
    dir_ = tmp_->file("qmodel");
    src_ = new std::map<std::string, SourceTensor>(write_qmodel(dir_));
  }
  static void TearDownTestSuite() {
    delete src_;
    delete tmp_;
  }
  static model::testing::TempDir* tmp_;
  static std::string dir_;
  static std::map<std::string, SourceTensor>* src_;
};
model::testing::TempDir* GgufQmodelExport::tmp_ = nullptr;
std::string GgufQmodelExport::dir_;
std::map<std::string, SourceTensor>* GgufQmodelExport::src_ = nullptr;

// The converter's order: shard 1's names sorted, then shard 2's
// (write_qmodel alternates tensors between the two shards).
std::vector<std::string> converter_order() {
  std::vector<std::string> s1, s2;
  size_t i = 0;
  for (const auto& [name, shape] : qmodel_shapes()) (i++ % 2 == 0 ? s1 : s2).push_back(name);
  std::sort(s1.begin(), s1.end());
  std::sort(s2.begin(), s2.end());
  s1.insert(s1.end(), s2.begin(), s2.end());
  return s1;
}

int block_of(const std::string& gguf_name) {
  int b = -1;
  return std::sscanf(gguf_name.c_str(), "blk.%d.", &b) == 1 ? b : -1;
}

std::vector<int64_t> reversed(const std::vector<int64_t>& s) { return {s.rbegin(), s.rend()}; }

// use_more_bits(i, 8) = i < 1 || i >= 7 || (i - 1) % 3 == 2
const std::set<int> kMoreBits8 = {0, 3, 6, 7};

// The type of a 2-D+ weight at each precision (norms, biases and the router
// are F32 in every file).
GgmlType weight_type(const std::string& name, const std::string& precision) {
  if (precision == "f16") return GgmlType::kF16;
  if (precision == "bf16") return GgmlType::kBF16;
  if (precision == "q8_0") return GgmlType::kQ8_0;  // every row here is a multiple of 32
  if (name == "output.weight") return GgmlType::kQ6_K;
  const int b = block_of(name);
  const bool v = name.ends_with("attn_v.weight"), down = name.find("ffn_down") != std::string::npos;
  // ffn_down_exps rows are 384 wide, not whole 256-blocks: Q6_K falls back to
  // Q8_0, Q4_K to Q5_0, Q5_K to Q5_1.
  if (precision == "q4_k_m") {
    if (down) return kMoreBits8.count(b) ? GgmlType::kQ8_0 : GgmlType::kQ5_0;
    return v && kMoreBits8.count(b) ? GgmlType::kQ6_K : GgmlType::kQ4_K;
  }
  if (precision == "q4_0") return GgmlType::kQ4_0;
  // iq4_nl: attn_v Q5_K (GQA 4), ffn_down of the first 8/8 = 1 layer Q5_K (-> Q5_1).
  if (v) return GgmlType::kQ5_K;
  if (down && b == 0) return GgmlType::kQ5_1;
  return GgmlType::kIQ4_NL;
}

std::vector<Expected> expected_text(const std::map<std::string, SourceTensor>& src, const std::string& precision) {
  std::vector<Expected> out;
  auto add = [&](const std::string& gguf, std::vector<int64_t> ne, std::vector<float> values) {
    const bool f32 = ne.size() == 1 || gguf.ends_with("_norm.weight") || gguf.find("ffn_gate_inp") != std::string::npos;
    out.push_back({gguf, std::move(ne), f32 ? GgmlType::kF32 : weight_type(gguf, precision), std::move(values)});
  };
  const std::string L = "model.language_model.";
  const std::map<std::string, std::string> per_layer = {
      {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"}, {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"mlp.gate.weight", "ffn_gate_inp.weight"}};
  for (const std::string& hf : converter_order()) {
    const SourceTensor& s = src.at(hf);
    if (hf.starts_with("model.visual.")) continue;
    if (hf == "lm_head.weight") add("output.weight", reversed(s.shape), s.values);
    else if (hf == L + "embed_tokens.weight") add("token_embd.weight", reversed(s.shape), s.values);
    else if (hf == L + "norm.weight") add("output_norm.weight", reversed(s.shape), s.values);
    else {
      int layer = -1;
      char rest[128] = {};
      std::sscanf(hf.c_str(), "model.language_model.layers.%d.%127s", &layer, rest);
      const std::string r = rest, b = fmt::format("blk.{}.", layer);
      if (r == "mlp.experts.gate_up_proj") {
        add(b + "ffn_gate_exps.weight", {kQH, kQI, kQExperts}, expert_half_in_out(s, false));
        add(b + "ffn_up_exps.weight", {kQH, kQI, kQExperts}, expert_half_in_out(s, true));
      } else if (r == "mlp.experts.down_proj") {
        add(b + "ffn_down_exps.weight", {kQI, kQH, kQExperts}, expert_down_in_out(s));
      } else {
        add(b + per_layer.at(r), reversed(s.shape), s.values);
      }
    }
  }
  if (precision == "q4_k_m" || precision == "q4_0" || precision == "iq4_nl")
    std::stable_sort(out.begin(), out.end(), [](const Expected& a, const Expected& b) {
      const int la = block_of(a.name), lb = block_of(b.name);
      return la != lb ? la < lb : a.name < b.name;
    });
  return out;
}

std::vector<Expected> expected_mmproj(const std::map<std::string, SourceTensor>& src, const std::string& precision) {
  const GgmlType w = precision == "bf16" ? GgmlType::kBF16 : GgmlType::kF16;
  const GgmlType patch = precision == "bf16" ? GgmlType::kF32 : GgmlType::kF16;
  std::vector<Expected> out;
  const std::map<std::string, std::string> block = {{"norm1", "ln1"},          {"norm2", "ln2"},
                                                    {"attn.qkv", "attn_qkv"},  {"attn.proj", "attn_out"},
                                                    {"mlp.linear_fc1", "ffn_up"}, {"mlp.linear_fc2", "ffn_down"}};
  for (const std::string& hf : converter_order()) {
    if (!hf.starts_with("model.visual.")) continue;
    const SourceTensor& s = src.at(hf);
    const std::string r = hf.substr(13);
    const std::string suffix = r.ends_with(".bias") ? ".bias" : ".weight";
    const std::string stem = r.substr(0, r.size() - suffix.size());
    auto add = [&](const std::string& name, std::vector<int64_t> ne, std::vector<float> v) {
      const GgmlType t = ne.size() == 1 ? GgmlType::kF32 : w;
      out.push_back({name, std::move(ne), t, std::move(v)});
    };
    if (r == "patch_embed.proj.weight") {
      out.push_back({"v.patch_embd.weight", {kQPatch, kQPatch, 3, kQVH}, patch, patch_frame(s, 0)});
      out.push_back({"v.patch_embd.weight.1", {kQPatch, kQPatch, 3, kQVH}, patch, patch_frame(s, 1)});
    } else if (r == "patch_embed.proj.bias") {
      add("v.patch_embd.bias", reversed(s.shape), s.values);
    } else if (r == "pos_embed.weight") {
      out.push_back({"v.position_embd.weight", reversed(s.shape), GgmlType::kF32, s.values});
    } else if (stem.starts_with("blocks.")) {
      int b = -1;
      char part[64] = {};
      std::sscanf(stem.c_str(), "blocks.%d.%63s", &b, part);
      add(fmt::format("v.blk.{}.{}{}", b, block.at(part), suffix), reversed(s.shape), s.values);
    } else if (stem == "merger.norm") {
      add("v.post_ln" + suffix, reversed(s.shape), s.values);
    } else if (stem == "merger.linear_fc1") {
      add("mm.0" + suffix, reversed(s.shape), s.values);
    } else if (stem == "merger.linear_fc2") {
      add("mm.2" + suffix, reversed(s.shape), s.values);
    } else {  // deepstack_merger_list.0.* -> v.deepstack.1.* (deepstack_visual_indexes = [1])
      const std::string what = stem.substr(std::string("deepstack_merger_list.0.").size());
      const std::string gg = what == "norm" ? "norm" : what == "linear_fc1" ? "fc1" : "fc2";
      add("v.deepstack.1." + gg + suffix, reversed(s.shape), s.values);
    }
  }
  return out;
}

double error_bound(GgmlType t) {
  switch (t) {
    case GgmlType::kQ8_0: return 0.01;
    case GgmlType::kQ6_K: return 0.03;
    case GgmlType::kQ5_K:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1: return 0.05;
    default: return 0.12;  // the 4-bit formats
  }
}

float as_stored(GgmlType t, float v) {
  if (t == GgmlType::kF16) return f16_to_f32(f32_to_f16(v));
  if (t == GgmlType::kBF16) return bf16_to_f32(f32_to_bf16(v));
  return v;
}

// Tensors, shapes, types and values of one written file.
void check_tensors(const GgufFile& f, const std::vector<Expected>& expected, const ExportResult& result) {
  ASSERT_EQ(f.tensors().size(), expected.size()) << f.path();
  std::map<std::string, const TensorExportReport*> reports;
  for (const auto& r : result.tensors)
    if (r.file == fs::path(f.path()).filename().string()) reports[r.name] = &r;
  for (size_t i = 0; i < expected.size(); ++i) {
    const GgufTensorInfo& t = f.tensors()[i];
    const Expected& e = expected[i];
    ASSERT_EQ(t.name, e.name) << "tensor " << i << " of " << f.path();
    EXPECT_EQ(t.ne, e.ne) << e.name;
    EXPECT_EQ(t.type, e.type) << e.name << ": " << ggml_type_name(t.type) << " vs " << ggml_type_name(e.type);
    auto values = f.dequantize(t);
    ASSERT_TRUE(values) << values.message();
    ASSERT_EQ(values->size(), e.values.size()) << e.name;
    const bool exact = t.type == GgmlType::kF32 || t.type == GgmlType::kF16 || t.type == GgmlType::kBF16;
    if (exact) {
      size_t bad = 0;
      for (size_t k = 0; k < e.values.size(); ++k) bad += (*values)[k] != as_stored(t.type, e.values[k]);
      EXPECT_EQ(bad, 0u) << e.name << ": values differ from the source";
    }
    const double err = rel_rmse(e.values, *values);
    if (!exact) {
      EXPECT_LE(err, error_bound(t.type)) << e.name << " " << ggml_type_name(t.type);
      EXPECT_GT(err, 0.0) << e.name;
    }
    ASSERT_TRUE(reports.count(e.name)) << e.name << " has no report";
    const TensorExportReport& r = *reports[e.name];
    EXPECT_EQ(r.shape, e.ne);
    EXPECT_EQ(r.bytes, t.nbytes);
    EXPECT_NEAR(r.rel_rmse, err, 1e-6 + 1e-6 * err) << e.name;
    if (t.type != GgmlType::kF32 && e.ne.size() >= 2) {
      EXPECT_GE(r.inapp_rel_rmse, 0.0) << e.name;
      EXPECT_LT(r.inapp_rel_rmse, 0.2) << e.name;
      EXPECT_FALSE(r.inapp_format.empty()) << e.name;
    } else {
      EXPECT_EQ(r.inapp_rel_rmse, -1.0) << e.name;
    }
  }
}

std::vector<std::string> keys_of(const GgufFile& f) {
  std::vector<std::string> k;
  for (const auto& kv : f.kvs()) k.push_back(kv.key);
  return k;
}

Result<ExportResult> run_export(const std::string& model_dir, const std::string& precision, const std::string& out,
                                ExportEstimate* estimate = nullptr) {
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
  if (estimate) {
    auto e = estimate_gguf_export(req, *ck, *cfg);
    if (!e) return e.error();
    *estimate = *e;
  }
  ExportContext ctx({}, nullptr, 0);
  ExportResult result;
  auto st = write_gguf_export(req, *ck, *cfg, ctx, result);
  if (!st) return st.error();
  return result;
}

class GgufQmodelPrecision : public GgufQmodelExport, public ::testing::WithParamInterface<const char*> {};

TEST_P(GgufQmodelPrecision, RoundTrip) {
  const std::string precision = GetParam();
  const std::string out = tmp_->file(std::string("out-") + precision);
  ExportEstimate estimate;
  auto result = run_export(dir_, precision, out, &estimate);
  ASSERT_TRUE(result) << result.message();

  std::string tag = precision;
  for (char& c : tag) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string text_path = out + "/qmodel-" + tag + ".gguf";
  const std::string mm_path = out + "/mmproj-qmodel-" + std::string(precision == "bf16" ? "BF16" : "F16") + ".gguf";
  ASSERT_EQ(result->files.size(), 2u);
  EXPECT_EQ(result->files[0].path, text_path);
  EXPECT_EQ(result->files[1].path, mm_path);
  ASSERT_EQ(estimate.files.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(estimate.files[i].path, result->files[i].path);
    EXPECT_EQ(estimate.files[i].bytes, result->files[i].bytes);
    EXPECT_EQ(fs::file_size(result->files[i].path), result->files[i].bytes);
  }
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_TRUE(e.path() == text_path || e.path() == mm_path) << "stray file " << e.path();

  auto text = GgufFile::open(text_path);
  ASSERT_TRUE(text) << text.message();
  check_tensors(*text, expected_text(*src_, precision), *result);
  auto mm = GgufFile::open(mm_path);
  ASSERT_TRUE(mm) << mm.message();
  check_tensors(*mm, expected_mmproj(*src_, precision), *result);

  // Keys: the converter's order; llama-quantize moves the file type and the
  // quantization version to the end.
  const bool requantized = precision == "q4_k_m" || precision == "q4_0" || precision == "iq4_nl";
  std::vector<std::string> keys = {
      "general.architecture", "general.type", "general.sampling.top_k", "general.sampling.top_p",
      "general.sampling.temp", "general.name", "general.size_label", "qwen3vlmoe.block_count",
      "qwen3vlmoe.context_length", "qwen3vlmoe.embedding_length", "qwen3vlmoe.feed_forward_length",
      "qwen3vlmoe.attention.head_count", "qwen3vlmoe.attention.head_count_kv", "qwen3vlmoe.rope.dimension_sections",
      "qwen3vlmoe.rope.freq_base", "qwen3vlmoe.attention.layer_norm_rms_epsilon", "qwen3vlmoe.expert_count",
      "qwen3vlmoe.expert_used_count", "qwen3vlmoe.attention.key_length", "qwen3vlmoe.attention.value_length",
      "general.file_type", "qwen3vlmoe.expert_feed_forward_length", "qwen3vlmoe.n_deepstack_layers",
      "general.quantization_version", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
      "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.eos_token_id",
      "tokenizer.ggml.padding_token_id", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.add_bos_token",
      "tokenizer.chat_template"};
  if (requantized) {
    std::erase(keys, "general.file_type");
    std::erase(keys, "general.quantization_version");
    keys.push_back("general.quantization_version");
    keys.push_back("general.file_type");
  }
  EXPECT_EQ(keys_of(*text), keys);
  const std::map<std::string, uint32_t> ftype = {{"f16", 1}, {"bf16", 32}, {"q8_0", 7},
                                                 {"q4_k_m", 15}, {"q4_0", 2}, {"iq4_nl", 25}};
  EXPECT_EQ(text->find("general.file_type")->as_u64(), ftype.at(precision));
  EXPECT_EQ(text->find("general.quantization_version")->as_u64(), 2u);
  EXPECT_EQ(text->find("general.name")->as_string(), "Qmodel");
  EXPECT_EQ(text->find("qwen3vlmoe.block_count")->as_u64(), 8u);
  EXPECT_EQ(text->find("qwen3vlmoe.rope.dimension_sections")->ints, (std::vector<uint64_t>{16, 8, 8, 0}));
  EXPECT_EQ(text->find("qwen3vlmoe.n_deepstack_layers")->as_u64(), 1u);

  // Vocabulary: 300 Qwen tokens, 5 added ones, 15 fillers up to vocab_size 320.
  const GgufValue* tokens = text->find("tokenizer.ggml.tokens");
  const GgufValue* types = text->find("tokenizer.ggml.token_type");
  ASSERT_EQ(tokens->count(), 320u);
  ASSERT_EQ(types->count(), 320u);
  EXPECT_EQ(types->array_type, GgufValueType::kInt32);
  EXPECT_EQ(tokens->strings[0], "!");
  EXPECT_EQ(tokens->strings[256], "ĠĠ");
  EXPECT_EQ(tokens->strings[302], "<|im_end|>");
  EXPECT_EQ(tokens->strings[305], "[PAD305]");
  EXPECT_EQ(tokens->strings[319], "[PAD319]");
  for (int i = 0; i < 300; ++i) ASSERT_EQ(types->ints[i], 1u) << i;           // NORMAL
  EXPECT_EQ(types->ints[300], 3u);                                              // special: CONTROL
  EXPECT_EQ(types->ints[302], 3u);
  EXPECT_EQ(types->ints[303], 4u);  // <think>: USER_DEFINED
  EXPECT_EQ(types->ints[304], 3u);  // <|fim_pad|>: not special, but looks it: CONTROL
  for (int i = 305; i < 320; ++i) EXPECT_EQ(types->ints[i], 5u) << i;  // UNUSED fillers
  const GgufValue* merges = text->find("tokenizer.ggml.merges");
  ASSERT_GT(merges->count(), 0u);
  EXPECT_EQ(merges->strings[0], "Ġ Ġ");
  EXPECT_EQ(text->find("tokenizer.ggml.eos_token_id")->as_u64(), 302u);      // tokenizer_config eos_token
  EXPECT_EQ(text->find("tokenizer.ggml.padding_token_id")->as_u64(), 300u);  // pad_token
  EXPECT_EQ(text->find("tokenizer.ggml.bos_token_id")->as_u64(), 300u);      // config.json bos_token_id
  EXPECT_EQ(text->find("tokenizer.ggml.add_bos_token")->type, GgufValueType::kBool);
  EXPECT_FALSE(text->find("tokenizer.ggml.add_bos_token")->as_bool());
  EXPECT_EQ(text->find("tokenizer.chat_template")->as_string(), "{{ messages }}");

  EXPECT_EQ(mm->find("general.architecture")->as_string(), "clip");
  EXPECT_EQ(mm->find("general.type")->as_string(), "mmproj");
  EXPECT_EQ(mm->find("general.file_type")->as_u64(), precision == "bf16" ? 32u : 1u);
  EXPECT_EQ(mm->find("clip.vision.image_size")->as_u64(), 16u);  // sqrt(16) * 4
  EXPECT_EQ(mm->find("clip.vision.projection_dim")->as_u64(), 256u);
  EXPECT_EQ(mm->find("clip.vision.image_std")->floats, (std::vector<double>{0.5, 0.5, 0.125}));
  EXPECT_EQ(mm->find("clip.vision.is_deepstack_layers")->ints, (std::vector<uint64_t>{0, 1}));
}

INSTANTIATE_TEST_SUITE_P(AllPrecisions, GgufQmodelPrecision,
                         ::testing::Values("f16", "bf16", "q8_0", "q4_k_m", "q4_0", "iq4_nl"));

// The same model with its experts stored [E, 2I, H] / [E, H, I] (nn.Linear
// orientation): the GGUF tensors hold the same matrices in the same layout.
TEST_F(GgufQmodelExport, OutInExpertOrientation) {
  const std::string dir = tmp_->file("qmodel-out-in");
  const auto src = write_qmodel(dir, /*out_in=*/true);
  auto result = run_export(dir, "bf16", tmp_->file("out-out-in"));
  ASSERT_TRUE(result) << result.message();
  auto f = GgufFile::open(result->files.at(0).path);
  ASSERT_TRUE(f) << f.message();
  for (int l : {0, 7}) {
    const std::string hf = fmt::format("model.language_model.layers.{}.mlp.experts.", l);
    const std::string b = fmt::format("blk.{}.", l);
    const GgufTensorInfo* gate = f->find_tensor(b + "ffn_gate_exps.weight");
    const GgufTensorInfo* down = f->find_tensor(b + "ffn_down_exps.weight");
    ASSERT_TRUE(gate && down);
    EXPECT_EQ(gate->ne, (std::vector<int64_t>{kQH, kQI, kQExperts}));
    EXPECT_EQ(down->ne, (std::vector<int64_t>{kQI, kQH, kQExperts}));
    EXPECT_EQ(*f->dequantize(*gate), expert_half_out_in(src.at(hf + "gate_up_proj"), false));
    EXPECT_EQ(*f->dequantize(*f->find_tensor(b + "ffn_up_exps.weight")),
              expert_half_out_in(src.at(hf + "gate_up_proj"), true));
    EXPECT_EQ(*f->dequantize(*down), src.at(hf + "down_proj").values);  // [E, H, I] is the GGUF order already
  }
  bool noted = false;
  for (const std::string& n : result->notes) noted |= n.find("[E, out, in]") != std::string::npos;
  EXPECT_TRUE(noted);
}

}  // namespace
}  // namespace ql::io::gguf
