#include "core/io/gguf/quantize_mix.h"

#include <cstdio>

#include <fmt/format.h>

namespace ql::io::gguf {
namespace {

enum class Category { kTokenEmbd, kAttnQ, kAttnV, kAttnK, kAttnQkv, kAttnKvB, kAttnOutput, kFfnUp, kFfnGate,
                      kFfnDown, kOutput, kOther };

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Broad categories by substring, in llama-quant.cpp's order.
Category category(const std::string& name) {
  if (name == "output.weight") return Category::kOutput;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Category::kTokenEmbd;
  if (contains(name, "attn_qkv.weight")) return Category::kAttnQkv;
  if (contains(name, "attn_kv_b.weight")) return Category::kAttnKvB;
  if (contains(name, "attn_v.weight")) return Category::kAttnV;
  if (contains(name, "attn_k.weight")) return Category::kAttnK;
  if (contains(name, "attn_q.weight")) return Category::kAttnQ;
  if (contains(name, "attn_output.weight")) return Category::kAttnOutput;
  if (contains(name, "ffn_up")) return Category::kFfnUp;
  if (contains(name, "ffn_gate")) return Category::kFfnGate;
  if (contains(name, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

bool is_attn_v_like(Category c) { return c == Category::kAttnV || c == Category::kAttnQkv || c == Category::kAttnKvB; }

// tensor_allows_quantization, for the names a Qwen3-VL-MoE file can hold.
bool allows_quantization(const QuantizeInput& t) {
  if (t.ne.size() < 2) return false;
  const std::string& n = t.name;
  if (!n.ends_with("weight")) return false;
  for (std::string_view never : {"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
                                 "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "attn_rel_b.weight",
                                 ".position_embd", ".patch_embd", ".patch_merger", ".rel_pos"})
    if (contains(n, never)) return false;
  return n != "position_embd.weight" && n != "token_types.weight";
}

// Layers near the ends, and every third one between, get more bits.
bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

int block_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

int64_t block_size(GgmlType t) { return traits(t).block_size; }

struct State {
  int n_attention_wv = 0, i_attention_wv = 0, i_ffn_down = 0;
  bool has_tied_embeddings = true;
};

GgmlType mix_type(State& s, const QuantizeModel& m, LlamaFtype ftype, GgmlType new_type, const QuantizeInput& t,
                  Category cat) {
  const bool q4_k_m = ftype == LlamaFtype::kMostlyQ4_K_M, iq4_nl = ftype == LlamaFtype::kMostlyIQ4_NL;
  const int n_gqa = m.n_head_kv > 0 ? m.n_head / m.n_head_kv : 0;
  if (cat == Category::kOutput || (s.has_tied_embeddings && cat == Category::kTokenEmbd)) {
    if (t.ne[0] % block_size(new_type) != 0) return GgmlType::kQ8_0;
    return new_type != GgmlType::kQ8_0 ? GgmlType::kQ6_K : new_type;
  }
  if (cat == Category::kTokenEmbd) return new_type;  // no override for these mixes
  if (is_attn_v_like(cat)) {
    if (iq4_nl && n_gqa >= 4) new_type = GgmlType::kQ5_K;
    else if (q4_k_m && use_more_bits(s.i_attention_wv, s.n_attention_wv)) new_type = GgmlType::kQ6_K;
    if (m.n_expert == 8) new_type = GgmlType::kQ8_0;  // llama.cpp: cheap for 8-expert models
    ++s.i_attention_wv;
    return new_type;
  }
  if (cat == Category::kAttnK) return m.n_expert == 8 ? GgmlType::kQ8_0 : new_type;
  if (cat == Category::kFfnDown) {
    // With experts the layer comes from the name; the count is the layer count.
    const int i_layer = m.n_expert > 1 ? block_of(t.name) : s.i_ffn_down;
    const int n_layer = m.n_layer;
    if (q4_k_m && use_more_bits(i_layer, n_layer)) new_type = GgmlType::kQ6_K;
    else if (iq4_nl && i_layer < n_layer / 8) new_type = GgmlType::kQ5_K;
    ++s.i_ffn_down;
    return new_type;
  }
  if (cat == Category::kAttnOutput && m.n_expert == 8 && (q4_k_m || iq4_nl)) return GgmlType::kQ5_K;
  return new_type;
}

// tensor_type_fallback: a type whose block does not divide the row length.
QuantizeChoice fallback(const QuantizeInput& t, GgmlType type) {
  if (t.ne[0] % block_size(type) == 0) return {type, {}};
  GgmlType next;
  switch (type) {
    case GgmlType::kQ4_K: next = GgmlType::kQ5_0; break;
    case GgmlType::kQ5_K: next = GgmlType::kQ5_1; break;
    case GgmlType::kQ6_K: next = GgmlType::kQ8_0; break;
    default:
      return {GgmlType::kF16,
              fmt::format("{}: llama-quantize stops here (no fallback for {} with rows of {}); written as F16",
                          t.name, ggml_type_upper_name(type), t.ne[0])};
  }
  if (t.ne[0] % block_size(next) != 0) return {GgmlType::kF16, {}};
  return {next, {}};
}

}  // namespace

bool llama_quantize_order(const std::string& a, const std::string& b) {
  const int la = block_of(a), lb = block_of(b);
  if (la != lb) return la < lb;
  return a < b;
}

std::vector<QuantizeChoice> llama_quantize_types(const std::vector<QuantizeInput>& tensors, LlamaFtype ftype,
                                                 const QuantizeModel& model) {
  GgmlType default_type = GgmlType::kQ4_K;
  if (ftype == LlamaFtype::kMostlyQ4_0) default_type = GgmlType::kQ4_0;
  if (ftype == LlamaFtype::kMostlyIQ4_NL) default_type = GgmlType::kIQ4_NL;

  State s;
  for (const QuantizeInput& t : tensors) {
    const Category c = category(t.name);
    if (is_attn_v_like(c)) ++s.n_attention_wv;
    if (c == Category::kOutput) s.has_tied_embeddings = false;
  }
  std::vector<QuantizeChoice> out;
  for (const QuantizeInput& t : tensors) {
    if (!allows_quantization(t)) {
      out.push_back({t.type, {}});
      continue;
    }
    out.push_back(fallback(t, mix_type(s, model, ftype, default_type, t, category(t.name))));
  }
  return out;
}

}  // namespace ql::io::gguf
