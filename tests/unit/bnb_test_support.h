#pragma once
// Shared by the bitsandbytes export and loading tests: exporting a tiny
// checkpoint, and what docs/formats.md §6-§7 say a bitsandbytes folder holds,
// written out here from the spec (not from the writer's or reader's tables):
// which tensors are quantized, each module's tensors, the NF4 levels, and
// reading tensor values back.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "core/common/float16.h"
#include "core/io/export.h"
#include "core/model/checkpoint.h"
#include "tests/unit/engine_test_support.h"

namespace ql::bnb_testing {

using engine::testing::data_path;
using engine::testing::demo_model_dir;

// The three tiny checkpoints: demo (bf16, real vocabulary, two shards),
// tiny-b (f32, tied lm_head), tiny-c (bf16, transformers-5 expert orientation,
// a dense MLP layer).
inline std::string checkpoint_dir(const std::string& name) {
  return name == "demo" ? demo_model_dir() : data_path("engine/" + name);
}

inline Result<io::ExportResult> export_bnb(const std::string& source, const std::string& out,
                                           const std::string& precision, uint64_t shard_bytes = 0) {
  io::ExportRequest r;
  r.model_dir = source;
  r.format = io::ExportFormat::kBnb;
  r.precision = precision;
  r.out_dir = out;
  if (shard_bytes) r.max_shard_bytes = shard_bytes;
  return io::export_model(r);
}

// docs/formats.md §6.1: the nn.Linear modules transformers 5 + bitsandbytes
// quantize in Qwen3-VL-MoE with the default skip list (lm_head): text
// attention projections, the dense MLP of mlp_only layers (also nn.Linear),
// and every Linear of the vision tower. Router, experts, embeddings, norms,
// Conv3d, position table, biases and lm_head are not.
inline bool spec_says_quantized(const std::string& name) {
  static const std::regex kQuantized(
      R"(model\.language_model\.layers\.\d+\.self_attn\.[qkvo]_proj\.weight)"
      R"(|model\.language_model\.layers\.\d+\.mlp\.(gate|up|down)_proj\.weight)"
      R"(|model\.visual\.blocks\.\d+\.(attn\.qkv|attn\.proj|mlp\.linear_fc1|mlp\.linear_fc2)\.weight)"
      R"(|model\.visual\.merger\.linear_fc[12]\.weight)"
      R"(|model\.visual\.deepstack_merger_list\.\d+\.linear_fc[12]\.weight)");
  return std::regex_match(name, kQuantized);
}

struct ExpectedTensor {
  std::string dtype;
  std::vector<int64_t> shape;  // quant state: [-1] (its length is the JSON's)
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// §6.2 (int8) / §6.3 (nf4) for module `m` of weight [out, in].
inline void add_module_tensors(const std::string& precision, const std::string& m, int64_t out, int64_t in,
                               std::map<std::string, ExpectedTensor>& e) {
  if (precision == "int8") {
    e[m + ".weight"] = {"I8", {out, in}};
    e[m + ".SCB"] = {"F32", {out}};
    e[m + ".weight_format"] = {"U8", {}};
    return;
  }
  const int64_t n = out * in, blocks = ceil_div(n, 64);
  e[m + ".weight"] = {"U8", {ceil_div(n, 2), 1}};
  e[m + ".weight.absmax"] = {"U8", {blocks}};
  e[m + ".weight.quant_map"] = {"F32", {16}};
  e[m + ".weight.nested_absmax"] = {"F32", {ceil_div(blocks, 256)}};
  e[m + ".weight.nested_quant_map"] = {"F32", {256}};
  e[m + ".weight.quant_state.bitsandbytes__nf4"] = {"U8", {-1}};
}

// Every tensor of the export of `source`: quantized modules per §6.2/§6.3,
// the rest 16-bit (bf16 unless the source is fp16), fused experts in the
// published [E, H, 2I] / [E, I, H] orientation whatever the source's (§6.1:
// experts are stored as the published checkpoint stores them; §8).
inline std::map<std::string, ExpectedTensor> expected_export(const model::Checkpoint& source,
                                                             const std::string& precision, int64_t hidden,
                                                             int64_t expert_width) {
  std::map<std::string, ExpectedTensor> e;
  for (const auto& t : source.tensors()) {
    const std::string name(t.name);
    std::vector<int64_t> shape(t.shape.begin(), t.shape.end());
    if (spec_says_quantized(name)) {
      add_module_tensors(precision, name.substr(0, name.size() - 7), shape[0], shape[1], e);
      continue;
    }
    const std::string dtype = t.dtype == model::DType::kF16 ? "F16" : "BF16";
    if (name.ends_with(".mlp.experts.gate_up_proj")) shape = {shape[0], hidden, 2 * expert_width};
    if (name.ends_with(".mlp.experts.down_proj")) shape = {shape[0], expert_width, hidden};
    e[name] = {dtype, shape};
  }
  return e;
}

// docs/formats.md §7.2: the NF4 levels, index = code.
inline const std::vector<float>& nf4_levels() {
  static const std::vector<float> levels = {
      -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
      -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
      0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f,
      1.0f};
  return levels;
}

// A tensor's elements as fp32 (BF16, F16, F32 sources).
inline std::vector<float> as_f32(const model::TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (t.dtype == model::DType::kF32) {
      std::memcpy(&out[i], t.data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      out[i] = t.dtype == model::DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
  }
  return out;
}

inline std::vector<float> floats_of(const model::TensorView& t) {
  std::vector<float> out(t.nbytes / 4);
  std::memcpy(out.data(), t.data, t.nbytes);
  return out;
}

inline std::string bytes_of(const model::TensorView& t) {
  return std::string(reinterpret_cast<const char*>(t.data), t.nbytes);
}

}  // namespace ql::bnb_testing
