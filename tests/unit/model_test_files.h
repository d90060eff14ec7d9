#pragma once
// Test helpers for core/model: a temp folder, a minimal safetensors writer
// (written here from docs/formats.md §1.1, independent of the reader under test),
// the tiny Qwen3-VL-MoE config of the model tests and its tensor list written
// out by hand, and a way to run quantlens-cli.
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#ifdef QL_CLI_PATH
#include "tests/unit/cli_runner.h"
#endif

namespace ql::model::testing {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ql_model_test_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // A fresh sub-folder (created).
  std::string sub(const std::string& name) const {
    fs::create_directories(file(name));
    return file(name);
  }

 private:
  std::string path_;
};

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) std::abort();
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// 8-byte little-endian length + header bytes + data bytes, with any length.
inline std::string safetensors_bytes(uint64_t declared_header_len, const std::string& header,
                                     const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((declared_header_len >> (8 * i)) & 0xff);
  return out + header + data;
}

// A well-formed file from a header string and a data buffer (length = header size).
inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return safetensors_bytes(header.size(), header, data);
}

struct FakeTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype = "F32";
  std::string bytes = {};  // the data as written; empty: fake_tensor_data's pattern
};

inline size_t fake_dtype_size(const std::string& dtype) { return dtype == "F32" ? 4 : 2; }

inline int64_t fake_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Element i of every F32 tensor written by write_safetensors holds 0.25 * i.
inline std::string fake_tensor_data(const FakeTensor& t) {
  const int64_t n = fake_numel(t.shape);
  std::string bytes;
  if (t.dtype == "F32") {
    for (int64_t i = 0; i < n; ++i) {
      const float v = 0.25f * static_cast<float>(i);
      char b[4];
      std::memcpy(b, &v, 4);
      bytes.append(b, 4);
    }
  } else {
    bytes.assign(static_cast<size_t>(n) * fake_dtype_size(t.dtype), '\x3c');
  }
  return bytes;
}

// Writes the tensors contiguously in the given order, header padded to 8.
inline void write_safetensors(const std::string& path, const std::vector<FakeTensor>& tensors,
                              const nlohmann::json& metadata = nullptr) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.is_null()) header["__metadata__"] = metadata;
  std::string data;
  for (const auto& t : tensors) {
    const std::string bytes = t.bytes.empty() ? fake_tensor_data(t) : t.bytes;
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + bytes.size()}}};
    data += bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  write_file(path, safetensors_bytes(h, data));
}

// Shards named model-0000K-of-0000N.safetensors plus the index.
inline void write_sharded(const std::string& dir, const std::vector<std::vector<FakeTensor>>& shards) {
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
    write_safetensors(dir + "/" + name, shards[s]);
    for (const auto& t : shards[s]) weight_map[t.name] = name;
  }
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
  write_file(dir + "/model.safetensors.index.json", index.dump(2));
}

// ---------------------------------------------------------------------------
// The tiny model: odd widths so that no two sizes coincide by accident.
// text: hidden 40, 3 layers (layer 1 dense via mlp_only_layers), 4 heads of 12,
// 2 KV heads, vocab 64, 6 experts, top-2, expert width 24, dense width 56.
// vision: 2 blocks, hidden 24, 2 heads, MLP 36, patch 4, temporal 2, merge 2,
// 16 position embeddings, out 40, deepstack [0].
inline nlohmann::json tiny_config_json() {
  return nlohmann::json::parse(R"({
    "architectures": ["Qwen3VLMoeForConditionalGeneration"],
    "model_type": "qwen3_vl_moe",
    "image_token_id": 60, "video_token_id": 61,
    "vision_start_token_id": 58, "vision_end_token_id": 59,
    "tie_word_embeddings": false,
    "text_config": {
      "hidden_size": 40, "num_hidden_layers": 3, "num_attention_heads": 4,
      "num_key_value_heads": 2, "head_dim": 12, "vocab_size": 64, "rms_norm_eps": 1e-06,
      "hidden_act": "silu", "attention_bias": false,
      "num_experts": 6, "num_experts_per_tok": 2, "moe_intermediate_size": 24,
      "intermediate_size": 56, "decoder_sparse_step": 1, "mlp_only_layers": [1],
      "norm_topk_prob": true, "dtype": "float32",
      "rope_scaling": {"mrope_interleaved": true, "mrope_section": [2, 2, 2], "rope_type": "default"},
      "rope_theta": 10000, "max_position_embeddings": 512
    },
    "vision_config": {
      "depth": 2, "hidden_size": 24, "num_heads": 2, "intermediate_size": 36,
      "hidden_act": "gelu_pytorch_tanh", "patch_size": 4, "temporal_patch_size": 2,
      "spatial_merge_size": 2, "in_channels": 3, "num_position_embeddings": 16,
      "out_hidden_size": 40, "deepstack_visual_indexes": [0], "model_type": "qwen3_vl_moe"
    }
  })");
}

// The tiny model's tensors, written out by hand from docs/model.md §2 (published
// expert orientation [E, H, 2I] / [E, I, H]).
inline std::vector<FakeTensor> tiny_tensors() {
  std::vector<FakeTensor> t;
  const std::string L = "model.language_model.";
  t.push_back({L + "embed_tokens.weight", {64, 40}});
  for (int l = 0; l < 3; ++l) {
    const std::string p = fmt::format("{}layers.{}.", L, l);
    t.push_back({p + "input_layernorm.weight", {40}});
    t.push_back({p + "self_attn.q_proj.weight", {48, 40}});
    t.push_back({p + "self_attn.k_proj.weight", {24, 40}});
    t.push_back({p + "self_attn.v_proj.weight", {24, 40}});
    t.push_back({p + "self_attn.o_proj.weight", {40, 48}});
    t.push_back({p + "self_attn.q_norm.weight", {12}});
    t.push_back({p + "self_attn.k_norm.weight", {12}});
    t.push_back({p + "post_attention_layernorm.weight", {40}});
    if (l == 1) {
      t.push_back({p + "mlp.gate_proj.weight", {56, 40}});
      t.push_back({p + "mlp.up_proj.weight", {56, 40}});
      t.push_back({p + "mlp.down_proj.weight", {40, 56}});
    } else {
      t.push_back({p + "mlp.gate.weight", {6, 40}});
      t.push_back({p + "mlp.experts.gate_up_proj", {6, 40, 48}});
      t.push_back({p + "mlp.experts.down_proj", {6, 24, 40}});
    }
  }
  t.push_back({L + "norm.weight", {40}});
  t.push_back({"lm_head.weight", {64, 40}});
  const std::string V = "model.visual.";
  t.push_back({V + "patch_embed.proj.weight", {24, 3, 2, 4, 4}});
  t.push_back({V + "patch_embed.proj.bias", {24}});
  t.push_back({V + "pos_embed.weight", {16, 24}});
  for (int b = 0; b < 2; ++b) {
    const std::string p = fmt::format("{}blocks.{}.", V, b);
    t.push_back({p + "norm1.weight", {24}});
    t.push_back({p + "norm1.bias", {24}});
    t.push_back({p + "attn.qkv.weight", {72, 24}});
    t.push_back({p + "attn.qkv.bias", {72}});
    t.push_back({p + "attn.proj.weight", {24, 24}});
    t.push_back({p + "attn.proj.bias", {24}});
    t.push_back({p + "norm2.weight", {24}});
    t.push_back({p + "norm2.bias", {24}});
    t.push_back({p + "mlp.linear_fc1.weight", {36, 24}});
    t.push_back({p + "mlp.linear_fc1.bias", {36}});
    t.push_back({p + "mlp.linear_fc2.weight", {24, 36}});
    t.push_back({p + "mlp.linear_fc2.bias", {24}});
  }
  t.push_back({V + "merger.norm.weight", {24}});
  t.push_back({V + "merger.norm.bias", {24}});
  t.push_back({V + "merger.linear_fc1.weight", {96, 96}});
  t.push_back({V + "merger.linear_fc1.bias", {96}});
  t.push_back({V + "merger.linear_fc2.weight", {40, 96}});
  t.push_back({V + "merger.linear_fc2.bias", {40}});
  const std::string D = V + "deepstack_merger_list.0.";
  t.push_back({D + "norm.weight", {96}});
  t.push_back({D + "norm.bias", {96}});
  t.push_back({D + "linear_fc1.weight", {96, 96}});
  t.push_back({D + "linear_fc1.bias", {96}});
  t.push_back({D + "linear_fc2.weight", {40, 96}});
  t.push_back({D + "linear_fc2.bias", {40}});
  return t;
}

// A model folder: config.json (+ the given tensors in one model.safetensors unless empty).
inline void write_model_folder(const std::string& dir, const nlohmann::json& config,
                               const std::vector<FakeTensor>& tensors) {
  fs::create_directories(dir);
  write_file(dir + "/config.json", config.dump(2));
  if (!tensors.empty()) write_safetensors(dir + "/model.safetensors", tensors);
}

inline FakeTensor* find_fake(std::vector<FakeTensor>& ts, const std::string& name) {
  for (auto& t : ts)
    if (t.name == name) return &t;
  std::abort();
}

inline void erase_fake(std::vector<FakeTensor>& ts, const std::string& name) {
  for (auto it = ts.begin(); it != ts.end(); ++it)
    if (it->name == name) {
      ts.erase(it);
      return;
    }
  std::abort();
}

// ---------------------------------------------------------------------------
#ifdef QL_CLI_PATH
using ql::testing::CliRun;
// Runs quantlens-cli with `args` (already shell-quoted where needed).
inline CliRun run_cli(const std::string& args) { return ql::testing::run_cli_line(args); }
#endif

}  // namespace ql::model::testing
