#include "core/common/result.h"
#include "core/model/model_config.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/common/mapped_file.h"
#include "core/model/json_fields.h"
#include "core/model/safetensors.h"
#include "core/model/tensor_schema.h"

namespace ql::model {

namespace {

// Sanity limits, far above any real model: they keep every shape entry (a
// product of at most three fields) inside int64 and bound the tensor list.
constexpr int64_t kMaxSize = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 4096;
// Every tensor's element count and the total stay far from int64 overflow.
constexpr double kMaxParameters = 1125899906842624.0;  // 2^50

// An integer field that must be in 1..max (sizes and counts).
Result<int64_t> positive(const JsonFields& f, std::string_view key, int64_t max = kMaxSize) {
  QL_ASSIGN_OR_RETURN(int64_t v, f.integer(key));
  if (v <= 0) return f.invalid(key, fmt::format("must be positive, got {}", v));
  if (v > max) return f.invalid(key, fmt::format("{} exceeds the sanity limit {}", v, max));
  return v;
}

// A field with two accepted spellings (published / transformers 5). When both
// are present they must agree.
Result<int64_t> positive_either(const JsonFields& f, std::string_view a, std::string_view b) {
  if (f.has(a) && f.has(b)) {
    QL_ASSIGN_OR_RETURN(int64_t va, positive(f, a));
    QL_ASSIGN_OR_RETURN(int64_t vb, positive(f, b));
    if (va != vb) return f.invalid(b, fmt::format("{} disagrees with {} ({})", vb, f.path(a), va));
    return va;
  }
  if (f.has(b)) return positive(f, b);
  if (!f.has(a)) return err("{}: {}: missing (also accepted as {})", f.file(), f.path(a), f.path(b));
  return positive(f, a);
}

// docs/model.md §1.4: rope_parameters (transformers 5) wins over rope_scaling (published);
// rope_theta comes from that dict, else from text_config.rope_theta.
Status parse_text_rope(const JsonFields& text, TextConfig& t) {
  std::optional<JsonFields> rope;
  if (text.has("rope_parameters")) {
    QL_ASSIGN_OR_RETURN(rope, text.object("rope_parameters"));
  } else if (text.has("rope_scaling")) {
    QL_ASSIGN_OR_RETURN(rope, text.object("rope_scaling"));
  }

  if (rope && rope->has("rope_theta")) {
    QL_ASSIGN_OR_RETURN(t.rope_theta, rope->number("rope_theta"));
    if (!(t.rope_theta > 0)) return rope->invalid("rope_theta", fmt::format("must be positive, got {}", t.rope_theta));
  } else if (text.has("rope_theta")) {
    QL_ASSIGN_OR_RETURN(t.rope_theta, text.number("rope_theta"));
    if (!(t.rope_theta > 0)) return text.invalid("rope_theta", fmt::format("must be positive, got {}", t.rope_theta));
  } else {
    // The class default (500000) is not this model's value: refuse rather than guess.
    return err("{}: {}: missing (not in {} either)", text.file(), text.path("rope_theta"),
               rope ? text.path(text.has("rope_parameters") ? "rope_parameters" : "rope_scaling")
                    : text.path("rope_parameters"));
  }

  t.rope_type = "default";
  t.mrope_section = {24, 20, 20};  // transformers' documented default when absent
  t.mrope_interleaved = true;
  if (!rope) return {};
  const char* type_key = rope->has("rope_type") ? "rope_type" : "type";  // "type": legacy spelling
  QL_ASSIGN_OR_RETURN(t.rope_type, rope->string_or(type_key, "default"));
  if (t.rope_type != "default")
    return rope->invalid(type_key, fmt::format("unsupported rope type {} (only \"default\")", quote(t.rope_type)));
  if (rope->has("mrope_section")) {
    QL_ASSIGN_OR_RETURN(auto section, rope->int_list("mrope_section"));
    if (section.size() != 3)
      return rope->invalid("mrope_section", fmt::format("expected 3 entries (t, h, w), got {}", section.size()));
    for (int64_t s : section)
      if (s < 0) return rope->invalid("mrope_section", fmt::format("negative entry {}", s));
    std::copy(section.begin(), section.end(), t.mrope_section.begin());
  }
  QL_ASSIGN_OR_RETURN(t.mrope_interleaved, rope->boolean_or("mrope_interleaved", true));
  return {};
}

Status parse_text_attention(const JsonFields& f, TextConfig& t) {
  QL_ASSIGN_OR_RETURN(t.hidden_size, positive(f, "hidden_size"));
  QL_ASSIGN_OR_RETURN(t.num_layers, positive(f, "num_hidden_layers", kMaxLayers));
  QL_ASSIGN_OR_RETURN(t.num_heads, positive(f, "num_attention_heads"));
  QL_ASSIGN_OR_RETURN(t.vocab_size, positive(f, "vocab_size"));
  QL_ASSIGN_OR_RETURN(t.rms_norm_eps, f.number("rms_norm_eps"));
  if (!(t.rms_norm_eps > 0)) return f.invalid("rms_norm_eps", fmt::format("must be positive, got {}", t.rms_norm_eps));

  if (f.has("num_key_value_heads")) {
    QL_ASSIGN_OR_RETURN(t.num_kv_heads, positive(f, "num_key_value_heads"));
  } else {
    t.num_kv_heads = t.num_heads;  // docs/model.md §1.4 default
  }
  if (t.num_heads % t.num_kv_heads != 0)
    return f.invalid("num_key_value_heads", fmt::format("{} does not divide num_attention_heads ({})",
                                                        t.num_kv_heads, t.num_heads));
  if (f.has("head_dim")) {
    QL_ASSIGN_OR_RETURN(t.head_dim, positive(f, "head_dim"));
  } else {
    if (t.hidden_size % t.num_heads != 0)
      return f.invalid("hidden_size", fmt::format("{} is not divisible by num_attention_heads ({}) and head_dim is absent",
                                                  t.hidden_size, t.num_heads));
    t.head_dim = t.hidden_size / t.num_heads;  // docs/model.md §1.4 default
  }
  // rotate_half pairs dim d with d + head_dim/2.
  if (t.head_dim % 2 != 0)
    return f.invalid(f.has("head_dim") ? "head_dim" : "hidden_size",
                     fmt::format("head dim {} is odd; RoPE needs an even head dim", t.head_dim));
  QL_ASSIGN_OR_RETURN(t.attention_bias, f.boolean_or("attention_bias", false));
  QL_ASSIGN_OR_RETURN(t.max_position_embeddings, f.integer_or("max_position_embeddings", 0));
  return parse_text_rope(f, t);
}

Status parse_text_mlp(const JsonFields& f, TextConfig& t) {
  // silu is the Qwen3 class default and the only activation the engine implements.
  QL_ASSIGN_OR_RETURN(t.hidden_act, f.string_or("hidden_act", "silu"));
  if (t.hidden_act != "silu")
    return f.invalid("hidden_act", fmt::format("unsupported activation {} (only \"silu\")", quote(t.hidden_act)));

  if (f.has("num_experts") || f.has("num_local_experts")) {
    QL_ASSIGN_OR_RETURN(t.num_experts, positive_either(f, "num_experts", "num_local_experts"));
  } else {
    return err("{}: {}: missing (also accepted as {})", f.file(), f.path("num_experts"),
               f.path("num_local_experts"));
  }
  QL_ASSIGN_OR_RETURN(t.num_experts_per_tok, positive(f, "num_experts_per_tok"));
  if (t.num_experts_per_tok > t.num_experts)
    return f.invalid("num_experts_per_tok", fmt::format("{} exceeds the number of experts ({})",
                                                        t.num_experts_per_tok, t.num_experts));
  QL_ASSIGN_OR_RETURN(t.moe_intermediate_size, positive(f, "moe_intermediate_size"));
  QL_ASSIGN_OR_RETURN(t.norm_topk_prob, f.boolean_or("norm_topk_prob", true));

  // Class defaults (every layer MoE) when absent: they describe no particular model.
  QL_ASSIGN_OR_RETURN(t.decoder_sparse_step, f.integer_or("decoder_sparse_step", 1));
  if (t.decoder_sparse_step <= 0)
    return f.invalid("decoder_sparse_step", fmt::format("must be positive, got {}", t.decoder_sparse_step));
  QL_ASSIGN_OR_RETURN(t.mlp_only_layers, f.int_list_or("mlp_only_layers", {}));
  for (int64_t l : t.mlp_only_layers)
    if (l < 0 || l >= t.num_layers)
      return f.invalid("mlp_only_layers", fmt::format("layer {} is outside 0..{}", l, t.num_layers - 1));

  t.layer_is_moe.assign(static_cast<size_t>(t.num_layers), false);
  bool any_dense = false;
  for (int64_t l = 0; l < t.num_layers; ++l) {
    const bool listed = std::find(t.mlp_only_layers.begin(), t.mlp_only_layers.end(), l) != t.mlp_only_layers.end();
    const bool moe = !listed && (l + 1) % t.decoder_sparse_step == 0;  // docs/model.md §1.4
    t.layer_is_moe[static_cast<size_t>(l)] = moe;
    any_dense = any_dense || !moe;
  }
  if (any_dense) {
    QL_ASSIGN_OR_RETURN(t.intermediate_size, positive(f, "intermediate_size"));
  } else if (f.has("intermediate_size")) {  // unused without dense layers, but kept sane
    QL_ASSIGN_OR_RETURN(t.intermediate_size, positive(f, "intermediate_size"));
  }
  return {};
}

Status parse_vision(const JsonFields& f, VisionConfig& v, const TextConfig& text) {
  QL_ASSIGN_OR_RETURN(v.depth, positive(f, "depth", kMaxLayers));
  QL_ASSIGN_OR_RETURN(v.hidden_size, positive(f, "hidden_size"));
  QL_ASSIGN_OR_RETURN(v.num_heads, positive_either(f, "num_heads", "num_attention_heads"));
  const char* heads_key = f.has("num_heads") ? "num_heads" : "num_attention_heads";
  if (v.hidden_size % v.num_heads != 0)
    return f.invalid("hidden_size", fmt::format("{} is not divisible by {} ({})", v.hidden_size, heads_key, v.num_heads));
  // 2-D RoPE rotates two quarter-width halves per axis (docs/model.md §6.3).
  if (v.head_dim() % 4 != 0)
    return f.invalid("hidden_size", fmt::format("head dim {} / {} = {} is not a multiple of 4 (2-D RoPE)",
                                                v.hidden_size, v.num_heads, v.head_dim()));
  QL_ASSIGN_OR_RETURN(v.intermediate_size, positive(f, "intermediate_size"));
  QL_ASSIGN_OR_RETURN(v.hidden_act, f.string_or("hidden_act", "gelu_pytorch_tanh"));
  if (v.hidden_act != "gelu_pytorch_tanh")
    return f.invalid("hidden_act", fmt::format("unsupported activation {} (only \"gelu_pytorch_tanh\")", quote(v.hidden_act)));
  QL_ASSIGN_OR_RETURN(v.patch_size, positive(f, "patch_size"));
  QL_ASSIGN_OR_RETURN(v.temporal_patch_size, positive(f, "temporal_patch_size"));
  QL_ASSIGN_OR_RETURN(v.spatial_merge_size, positive(f, "spatial_merge_size"));
  QL_ASSIGN_OR_RETURN(v.in_channels, positive(f, "in_channels"));
  QL_ASSIGN_OR_RETURN(v.num_position_embeddings, positive(f, "num_position_embeddings"));
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(v.num_position_embeddings))));
  if (side * side != v.num_position_embeddings)
    return f.invalid("num_position_embeddings",
                     fmt::format("{} is not a square (the table is a side x side grid)", v.num_position_embeddings));
  QL_ASSIGN_OR_RETURN(v.out_hidden_size, positive(f, "out_hidden_size"));
  if (v.out_hidden_size != text.hidden_size)
    return f.invalid("out_hidden_size", fmt::format("{} differs from text_config.hidden_size ({})",
                                                    v.out_hidden_size, text.hidden_size));

  QL_ASSIGN_OR_RETURN(v.deepstack_visual_indexes, f.int_list("deepstack_visual_indexes"));
  std::set<int64_t> seen;
  for (int64_t b : v.deepstack_visual_indexes) {
    if (b < 0 || b >= v.depth)
      return f.invalid("deepstack_visual_indexes", fmt::format("block {} is outside 0..{}", b, v.depth - 1));
    if (!seen.insert(b).second)
      return f.invalid("deepstack_visual_indexes", fmt::format("block {} is listed twice", b));
  }
  // DeepStack feature j is added after text layer j.
  if (static_cast<int64_t>(v.deepstack_visual_indexes.size()) > text.num_layers)
    return f.invalid("deepstack_visual_indexes", fmt::format("{} entries but only {} text layers",
                                                             v.deepstack_visual_indexes.size(), text.num_layers));

  v.rope_theta = 10000.0;  // docs/model.md §1.4 default for the vision tower
  if (f.has("rope_parameters")) {
    QL_ASSIGN_OR_RETURN(JsonFields rope, f.object("rope_parameters"));
    QL_ASSIGN_OR_RETURN(v.rope_theta, rope.number_or("rope_theta", 10000.0));
    if (!(v.rope_theta > 0)) return rope.invalid("rope_theta", fmt::format("must be positive, got {}", v.rope_theta));
    QL_ASSIGN_OR_RETURN(std::string type, rope.string_or("rope_type", "default"));
    if (type != "default" && type != "axial")
      return rope.invalid("rope_type", fmt::format("unsupported rope type {} (only \"axial\")", quote(type)));
  }
  return {};
}

Status parse_token_ids(const JsonFields& f, ModelConfig& c) {
  const std::pair<const char*, int64_t*> ids[] = {
      {"image_token_id", &c.image_token_id},
      {"video_token_id", &c.video_token_id},
      {"vision_start_token_id", &c.vision_start_token_id},
      {"vision_end_token_id", &c.vision_end_token_id}};
  for (auto [key, out] : ids) {
    QL_ASSIGN_OR_RETURN(*out, f.integer(key));
    if (*out < 0 || *out >= c.text.vocab_size)
      return f.invalid(key, fmt::format("{} is outside the vocabulary (0..{})", *out, c.text.vocab_size - 1));
  }
  return {};
}

// The checkpoint dtype as declared: text_config first (published), then the top level;
// "dtype" (transformers 5) or "torch_dtype" (older files).
Status parse_dtype(const JsonFields& top, const JsonFields& text, ModelConfig& c) {
  for (const JsonFields* f : {&text, &top}) {
    for (const char* key : {"dtype", "torch_dtype"}) {
      if (!f->has(key)) continue;
      QL_ASSIGN_OR_RETURN(std::string name, f->string(key));
      c.dtype = dtype_from_torch_name(name);
      if (!c.dtype)
        return f->invalid(key, fmt::format("unsupported dtype {} (bfloat16, float16 or float32)", quote(name)));
      return {};
    }
  }
  return {};
}

// Refuses sizes whose tensors could not exist (and whose element counts would
// overflow downstream arithmetic), naming the largest tensor.
Status check_parameter_total(const ModelConfig& c) {
  double total = 0, largest = 0;
  const TensorSpec* largest_spec = nullptr;
  const auto schema = build_tensor_schema(c);
  for (const TensorSpec& s : schema) {
    double n = 1;
    for (int64_t d : s.shape) n *= static_cast<double>(d);
    total += n;
    if (n > largest) largest = n, largest_spec = &s;
  }
  if (total > kMaxParameters)
    return err("{}: the sizes describe {:.3g} parameters, beyond the sanity limit {:.3g} (largest tensor {} {})",
               c.source, total, kMaxParameters, largest_spec->name, format_shape(largest_spec->shape));
  return {};
}

}  // namespace

int64_t TextConfig::num_moe_layers() const {
  return std::count(layer_is_moe.begin(), layer_is_moe.end(), true);
}

Result<ModelConfig> parse_model_config(std::string_view json_text, const std::string& file) {
  QL_ASSIGN_OR_RETURN(nlohmann::json root, JsonFields::parse_object(json_text, file));
  const JsonFields top(root, file, "");
  ModelConfig c;
  c.source = file;
  QL_ASSIGN_OR_RETURN(c.model_type, top.string_or("model_type", ""));
  if (!c.model_type.empty() && c.model_type != "qwen3_vl_moe")
    return top.invalid("model_type", fmt::format("{} is not qwen3_vl_moe", quote(c.model_type)));

  QL_ASSIGN_OR_RETURN(JsonFields text, top.object("text_config"));
  QL_TRY(parse_text_attention(text, c.text));
  QL_TRY(parse_text_mlp(text, c.text));
  QL_ASSIGN_OR_RETURN(JsonFields vision, top.object("vision_config"));
  QL_TRY(parse_vision(vision, c.vision, c.text));
  QL_TRY(parse_token_ids(top, c));
  QL_TRY(parse_dtype(top, text, c));
  QL_ASSIGN_OR_RETURN(c.quantization, parse_bnb_quantization(root, file));

  // docs/model.md §1.4: the top-level flag decides; text_config's copy is only a fallback.
  if (top.has("tie_word_embeddings")) {
    QL_ASSIGN_OR_RETURN(c.tie_word_embeddings, top.boolean_or("tie_word_embeddings", false));
  } else {
    QL_ASSIGN_OR_RETURN(c.tie_word_embeddings, text.boolean_or("tie_word_embeddings", false));
  }
  QL_TRY(check_parameter_total(c));
  return c;
}

Result<ModelConfig> load_model_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  QL_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  return parse_model_config(text, path);
}

}  // namespace ql::model
