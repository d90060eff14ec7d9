#pragma once
// Shared by the GGUF tests: a small "quantizable" checkpoint whose widths are
// multiples of 256 (so every block format of the 4-bit mixes is reached),
// with random bf16 weights the test keeps in memory to compute expectations;
// a cut-down Qwen tokenizer.json that fits a small vocabulary; and the
// converter's rearrangements of expert and patch tensors written out here
// independently of the exporter (docs/formats.md §4.2, §5.2).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/common/float16.h"
#include "tests/unit/model_test_files.h"

namespace ql::io::gguf::testing {

using model::testing::FakeTensor;

// Deterministic normal-ish values (sum of 4 uniforms, scaled) rounded to bf16.
class Bf16Source {
 public:
  explicit Bf16Source(uint64_t seed) : state_(seed * 6364136223846793005ull + 1442695040888963407ull) {}
  float next(float scale) {
    float s = 0;
    for (int i = 0; i < 4; ++i) {
      state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
      s += static_cast<float>((state_ >> 40) & 0xffffff) / 16777216.0f - 0.5f;
    }
    return bf16_to_f32(f32_to_bf16(s * 1.7320508f * scale));
  }

 private:
  uint64_t state_;
};

struct SourceTensor {
  std::vector<int64_t> shape;  // HF order
  std::vector<float> values;   // row-major, exactly representable in bf16
};

inline std::string bf16_bytes(const std::vector<float>& v) {
  std::string out(v.size() * 2, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    const uint16_t h = f32_to_bf16(v[i]);
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
  return out;
}

// ---------------------------------------------------------------------------
// The quantizable model ("qmodel"): text hidden 256, 8 layers, 4 heads of 64,
// 1 KV head (GQA 4), 2 experts of width 384 (ffn_down rows of 384 are not
// whole 256-blocks: the K-quant fallbacks), vocab 320; vision depth 2, hidden
// 64, MLP 96, patch 4, 16 positions, deepstack at block 1. No dense layer:
// llama.cpp's qwen3vlmoe has none.
inline constexpr int64_t kQH = 256, kQLayers = 8, kQHeads = 4, kQHeadDim = 64, kQKv = 1, kQExperts = 2,
                         kQI = 384, kQVocab = 320;
inline constexpr int64_t kQVH = 64, kQVDepth = 2, kQVMlp = 96, kQPatch = 4, kQPos = 16;

inline nlohmann::json qmodel_config() {
  return nlohmann::json::parse(R"({
    "architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
    "image_token_id": 310, "video_token_id": 311, "vision_start_token_id": 312, "vision_end_token_id": 313,
    "tie_word_embeddings": false,
    "text_config": {
      "hidden_size": 256, "num_hidden_layers": 8, "num_attention_heads": 4, "num_key_value_heads": 1,
      "head_dim": 64, "vocab_size": 320, "rms_norm_eps": 1e-06, "hidden_act": "silu", "attention_bias": false,
      "num_experts": 2, "num_experts_per_tok": 1, "moe_intermediate_size": 384, "intermediate_size": 512,
      "decoder_sparse_step": 1, "mlp_only_layers": [], "norm_topk_prob": true, "dtype": "bfloat16",
      "rope_scaling": {"mrope_interleaved": true, "mrope_section": [16, 8, 8], "rope_type": "default"},
      "rope_theta": 1000000, "max_position_embeddings": 4096, "bos_token_id": 300, "eos_token_id": 302
    },
    "vision_config": {
      "depth": 2, "hidden_size": 64, "num_heads": 2, "intermediate_size": 96, "hidden_act": "gelu_pytorch_tanh",
      "patch_size": 4, "temporal_patch_size": 2, "spatial_merge_size": 2, "in_channels": 3,
      "num_position_embeddings": 16, "out_hidden_size": 256, "deepstack_visual_indexes": [1],
      "model_type": "qwen3_vl_moe"
    }
  })");
}

// Every tensor of the qmodel with its HF shape: the published expert
// orientation [E, H, 2I] / [E, I, H], or with `out_in` the nn.Linear one
// [E, 2I, H] / [E, H, I].
inline std::vector<std::pair<std::string, std::vector<int64_t>>> qmodel_shapes(bool out_in = false) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  const std::string L = "model.language_model.";
  t.push_back({L + "embed_tokens.weight", {kQVocab, kQH}});
  for (int l = 0; l < kQLayers; ++l) {
    const std::string p = fmt::format("{}layers.{}.", L, l);
    t.push_back({p + "input_layernorm.weight", {kQH}});
    t.push_back({p + "self_attn.q_proj.weight", {kQHeads * kQHeadDim, kQH}});
    t.push_back({p + "self_attn.k_proj.weight", {kQKv * kQHeadDim, kQH}});
    t.push_back({p + "self_attn.v_proj.weight", {kQKv * kQHeadDim, kQH}});
    t.push_back({p + "self_attn.o_proj.weight", {kQH, kQHeads * kQHeadDim}});
    t.push_back({p + "self_attn.q_norm.weight", {kQHeadDim}});
    t.push_back({p + "self_attn.k_norm.weight", {kQHeadDim}});
    t.push_back({p + "post_attention_layernorm.weight", {kQH}});
    t.push_back({p + "mlp.gate.weight", {kQExperts, kQH}});
    if (out_in) {
      t.push_back({p + "mlp.experts.gate_up_proj", {kQExperts, 2 * kQI, kQH}});
      t.push_back({p + "mlp.experts.down_proj", {kQExperts, kQH, kQI}});
    } else {
      t.push_back({p + "mlp.experts.gate_up_proj", {kQExperts, kQH, 2 * kQI}});
      t.push_back({p + "mlp.experts.down_proj", {kQExperts, kQI, kQH}});
    }
  }
  t.push_back({L + "norm.weight", {kQH}});
  t.push_back({"lm_head.weight", {kQVocab, kQH}});
  const std::string V = "model.visual.";
  const int64_t M = kQVH * 4;
  t.push_back({V + "patch_embed.proj.weight", {kQVH, 3, 2, kQPatch, kQPatch}});
  t.push_back({V + "patch_embed.proj.bias", {kQVH}});
  t.push_back({V + "pos_embed.weight", {kQPos, kQVH}});
  for (int b = 0; b < kQVDepth; ++b) {
    const std::string p = fmt::format("{}blocks.{}.", V, b);
    for (const char* n : {"norm1", "norm2"}) {
      t.push_back({p + n + ".weight", {kQVH}});
      t.push_back({p + n + ".bias", {kQVH}});
    }
    t.push_back({p + "attn.qkv.weight", {3 * kQVH, kQVH}});
    t.push_back({p + "attn.qkv.bias", {3 * kQVH}});
    t.push_back({p + "attn.proj.weight", {kQVH, kQVH}});
    t.push_back({p + "attn.proj.bias", {kQVH}});
    t.push_back({p + "mlp.linear_fc1.weight", {kQVMlp, kQVH}});
    t.push_back({p + "mlp.linear_fc1.bias", {kQVMlp}});
    t.push_back({p + "mlp.linear_fc2.weight", {kQVH, kQVMlp}});
    t.push_back({p + "mlp.linear_fc2.bias", {kQVH}});
  }
  t.push_back({V + "merger.norm.weight", {kQVH}});
  t.push_back({V + "merger.norm.bias", {kQVH}});
  t.push_back({V + "merger.linear_fc1.weight", {M, M}});
  t.push_back({V + "merger.linear_fc1.bias", {M}});
  t.push_back({V + "merger.linear_fc2.weight", {kQH, M}});
  t.push_back({V + "merger.linear_fc2.bias", {kQH}});
  const std::string D = V + "deepstack_merger_list.0.";
  t.push_back({D + "norm.weight", {M}});
  t.push_back({D + "norm.bias", {M}});
  t.push_back({D + "linear_fc1.weight", {M, M}});
  t.push_back({D + "linear_fc1.bias", {M}});
  t.push_back({D + "linear_fc2.weight", {kQH, M}});
  t.push_back({D + "linear_fc2.bias", {kQH}});
  return t;
}

// A cut-down Qwen tokenizer.json: the first `base` vocabulary entries, the
// merges among them, and the given added tokens (content, special) numbered
// from `base` on.
inline std::string small_tokenizer_json(int base, const std::vector<std::pair<std::string, bool>>& added) {
  const auto full = nlohmann::json::parse(model::testing::read_file(QL_DEFAULT_TOKENIZER));
  nlohmann::json t = full;
  nlohmann::json vocab = nlohmann::json::object();
  for (const auto& [tok, id] : full["model"]["vocab"].items())
    if (id.get<int>() < base) vocab[tok] = id;
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& m : full["model"]["merges"]) {
    const std::string a = m[0], b = m[1];
    if (vocab.contains(a) && vocab.contains(b) && vocab.contains(a + b)) merges.push_back(m);
  }
  t["model"]["vocab"] = vocab;
  t["model"]["merges"] = merges;
  nlohmann::json at = nlohmann::json::array();
  for (size_t i = 0; i < added.size(); ++i)
    at.push_back({{"id", base + static_cast<int>(i)}, {"content", added[i].first}, {"single_word", false},
                  {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", added[i].second}});
  t["added_tokens"] = at;
  return t.dump();
}

// The qmodel's added tokens: three special, one plain, one plain that looks special.
inline std::vector<std::pair<std::string, bool>> qmodel_added_tokens() {
  return {{"<|endoftext|>", true}, {"<|im_start|>", true}, {"<|im_end|>", true}, {"<think>", false},
          {"<|fim_pad|>", false}};
}
inline constexpr int kQBaseVocab = 300;  // ids 0..299 from the Qwen vocabulary, 300..304 added, 305..319 empty

// Writes the qmodel into `dir` (two shards + index, tokenizer, configs) and
// returns the source values by HF name.
inline std::map<std::string, SourceTensor> write_qmodel(const std::string& dir, bool out_in = false) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  std::map<std::string, SourceTensor> src;
  std::vector<std::vector<FakeTensor>> shards(2);
  Bf16Source rng(7);
  size_t i = 0;
  for (const auto& [name, shape] : qmodel_shapes(out_in)) {
    SourceTensor s;
    s.shape = shape;
    const int64_t n = model::testing::fake_numel(shape);
    const bool norm = name.find("norm") != std::string::npos && shape.size() == 1;
    for (int64_t k = 0; k < n; ++k)
      s.values.push_back(norm ? bf16_to_f32(f32_to_bf16(1.0f + rng.next(0.1f))) : rng.next(0.05f));
    // Text tensors of odd position go to shard 2, so the converter order (by
    // shard, then name) differs from plain name order.
    shards[i++ % 2].push_back({name, shape, "BF16", bf16_bytes(s.values)});
    src[name] = std::move(s);
  }
  model::testing::write_sharded(dir, shards);
  model::testing::write_file(dir + "/config.json", qmodel_config().dump(2));
  model::testing::write_file(dir + "/tokenizer.json", small_tokenizer_json(kQBaseVocab, qmodel_added_tokens()));
  model::testing::write_file(dir + "/tokenizer_config.json",
                             R"({"add_bos_token": false, "bos_token": null, "eos_token": "<|im_end|>",
                                 "pad_token": "<|endoftext|>", "chat_template": "{{ messages }}"})");
  model::testing::write_file(dir + "/generation_config.json", R"({"top_k": 20, "top_p": 0.8, "temperature": 0.7})");
  model::testing::write_file(dir + "/preprocessor_config.json",
                             R"({"image_mean": [0.5, 0.25, 0.5], "image_std": [0.5, 0.5, 0.125], "patch_size": 4})");
  return src;
}

// ---------------------------------------------------------------------------
// The converter's rearrangements, written from docs/formats.md §4.2 / §5.2: the
// expected GGUF values (row after row) of one exported tensor.

// gate_up [E, H, 2I] -> gate or up half, each expert as [I rows x H].
inline std::vector<float> expert_half_in_out(const SourceTensor& s, bool up) {
  const int64_t E = s.shape[0], H = s.shape[1], I2 = s.shape[2], I = I2 / 2;
  std::vector<float> out;
  for (int64_t e = 0; e < E; ++e)
    for (int64_t i = 0; i < I; ++i)
      for (int64_t h = 0; h < H; ++h) out.push_back(s.values[static_cast<size_t>((e * H + h) * I2 + (up ? I : 0) + i)]);
  return out;
}

// gate_up [E, 2I, H] (nn.Linear orientation) -> half, [I rows x H].
inline std::vector<float> expert_half_out_in(const SourceTensor& s, bool up) {
  const int64_t E = s.shape[0], I2 = s.shape[1], H = s.shape[2], I = I2 / 2;
  std::vector<float> out;
  for (int64_t e = 0; e < E; ++e)
    for (int64_t i = 0; i < I; ++i)
      for (int64_t h = 0; h < H; ++h) out.push_back(s.values[static_cast<size_t>((e * I2 + (up ? I : 0) + i) * H + h)]);
  return out;
}

// down [E, I, H] -> [H rows x I] per expert.
inline std::vector<float> expert_down_in_out(const SourceTensor& s) {
  const int64_t E = s.shape[0], I = s.shape[1], H = s.shape[2];
  std::vector<float> out;
  for (int64_t e = 0; e < E; ++e)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < I; ++i) out.push_back(s.values[static_cast<size_t>((e * I + i) * H + h)]);
  return out;
}

// Conv3d [O, C, 2, P, P] -> frame t as [O, C, P, P].
inline std::vector<float> patch_frame(const SourceTensor& s, int t) {
  const int64_t O = s.shape[0], C = s.shape[1], T = s.shape[2], P = s.shape[3], W = s.shape[4];
  std::vector<float> out;
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < P; ++y)
        for (int64_t x = 0; x < W; ++x)
          out.push_back(s.values[static_cast<size_t>((((o * C + c) * T + t) * P + y) * W + x)]);
  return out;
}

inline double rel_rmse(const std::vector<float>& ref, const std::vector<float>& got) {
  double d2 = 0, r2 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(got[i]) - ref[i];
    d2 += d * d;
    r2 += static_cast<double>(ref[i]) * ref[i];
  }
  return r2 > 0 ? std::sqrt(d2 / r2) : std::sqrt(d2);
}

}  // namespace ql::io::gguf::testing
