#include "core/model/model_weights.h"

#include <string_view>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/model/bnb_modules.h"
#include "core/model/bnb_weights.h"
#include "core/model/qwen3vl_model.h"
#include "core/model/tensor_schema.h"
#include "core/model/weight_upload.h"
#include "core/quant/tensor_precision.h"

namespace ql::model {
namespace {

// Walks the checkpoint in schema order, handing each matrix to the uploader
// in its policy's format and counting bytes for progress.
class Loader {
 public:
  Loader(const ModelConfig& config, const WeightSource& src, const Checkpoint* ckpt, const ValidationReport* report,
         backend::Backend& be, const WeightLoadOptions& options, const WeightProgress& progress,
         const std::atomic<bool>* cancel)
      : src_(src), ckpt_(ckpt), report_(report), policy_(options.policy), schema_(build_tensor_schema(config)),
        backend_(be), uploader_(be), total_(src.total_bytes()), progress_(progress), cancel_(cancel),
        bnb_(ckpt ? config.quantization : std::nullopt), dtype_(config.dtype) {
    for (const auto& spec : schema_) spec_by_name_.emplace(spec.name, &spec);
    if (bnb_)
      for (auto& m : bnb_quantized_modules(schema_, bnb_->skip_modules)) bnb_modules_.emplace(m.weight->name, m);
  }

  // The whole tensor as one weight: vectors [1, n], matrices [r, c], higher
  // ranks [dim0, product of the rest] (the patch-embedding Conv3d).
  Result<WeightPtr> whole(const std::string& name) {
    QL_TRY(check_cancel());
    if (const BnbModule* m = bnb_module(name)) return prequantized(*m);
    auto view = src_.find(name);
    if (!view) return err("{}: tensor {} is missing", src_.where(), name);
    int64_t rows = 1, cols = 1;
    if (view->shape.size() == 1) {
      cols = view->shape[0];
    } else {
      rows = view->shape[0];
      for (size_t i = 1; i < view->shape.size(); ++i) cols *= view->shape[i];
    }
    count(view->nbytes);
    return upload(name, SourceMatrix{&*view, name, 0, rows, cols, 1, false});
  }

  // Rows [first, first + rows) of a 2-D tensor, or elements of a vector.
  Result<WeightPtr> rows_of(const std::string& name, int64_t first, int64_t rows) {
    QL_TRY(check_cancel());
    // A stored-quantized fused weight (the vision qkv) is one weight, as
    // bitsandbytes quantized it (NF4 blocks and double quantization run over
    // all of it); its parts are row views of it.
    if (const BnbModule* m = bnb_module(name)) {
      QL_ASSIGN_OR_RETURN(WeightPtr whole_weight, prequantized(*m));
      return backend_.weight_rows(whole_weight, first, rows);
    }
    auto view = src_.find(name);
    if (!view) return err("{}: tensor {} is missing", src_.where(), name);
    const std::string part = fmt::format("{}[{}:{}]", name, first, first + rows);
    if (view->shape.size() == 1) {
      count(static_cast<size_t>(rows) * dtype_size(view->dtype));
      return upload(name, SourceMatrix{&*view, part, first, 1, rows, 1, false});
    }
    const int64_t cols = view->shape[1];
    count(static_cast<size_t>(rows * cols) * dtype_size(view->dtype));
    return upload(name, SourceMatrix{&*view, part, first * cols, rows, cols, 1, false});
  }

  // Every expert of a fused [E, a, b] tensor as one stacked weight, each
  // matrix presented as [out, in] whatever the stored orientation.
  Result<WeightPtr> experts(const std::string& name) {
    QL_TRY(check_cancel());
    auto view = src_.find(name);
    if (!view) return err("{}: tensor {} is missing", src_.where(), name);
    bool in_out = false;  // a synthetic checkpoint stores [E, out, in]
    if (report_) {
      auto it = report_->expert_orientation.find(name);
      in_out = it == report_->expert_orientation.end() || it->second == ExpertOrientation::kInOut;
    }
    const int64_t e = view->shape[0], a = view->shape[1], b = view->shape[2];
    count(view->nbytes);
    // [in, out] stored (published): rows = out = b, cols = in = a, transposed.
    return in_out ? upload(name, SourceMatrix{&*view, name, 0, b, a, e, true})
                  : upload(name, SourceMatrix{&*view, name, 0, a, b, e, false});
  }

  // A tied lm_head is the embedding matrix, unless the policy gives the two
  // different formats: then it is a second weight made from the embedding
  // tensor in the head's format (the planner counts it so, memory_plan.h).
  Result<WeightPtr> tied_head(const std::string& embed_name, const WeightPtr& embed) {
    auto embed_format = format_of(embed_name);
    auto head_format = format_of("lm_head.weight");
    if (!embed_format) return embed_format.error();
    if (!head_format) return head_format.error();
    if (*embed_format == *head_format) return embed;
    QL_TRY(check_cancel());
    auto view = src_.find(embed_name);
    if (!view) return err("{}: tensor {} is missing", src_.where(), embed_name);
    const SourceMatrix m{&*view, "lm_head.weight (tied to " + embed_name + ")", 0, view->shape[0], view->shape[1],
                         1, false};
    return uploader_.upload(m, *head_format);
  }

  size_t stored_bytes() const { return uploader_.stored_bytes(); }
  const quant::Dense16Report& fp16_losses() const { return uploader_.fp16_losses(); }
  int64_t fp16_tensors() const { return uploader_.fp16_tensors(); }

 private:
  Status check_cancel() const {
    if (cancel_ && cancel_->load(std::memory_order_relaxed)) return err("{}", kCancelledMessage);
    return {};
  }

  void count(size_t bytes) {
    done_ += bytes;
    if (progress_ && total_ > 0) progress_(static_cast<double>(done_) / static_cast<double>(total_));
  }

  // The policy's format for a schema tensor; nullopt without a policy (as stored).
  Result<std::optional<quant::QuantFormat>> format_of(const std::string& name) const {
    if (!policy_) return std::optional<quant::QuantFormat>();
    auto it = spec_by_name_.find(name);
    if (it == spec_by_name_.end()) return internal_err("{}: not in the architecture's tensor list", name);
    return std::optional<quant::QuantFormat>(quant::tensor_format(*policy_, *it->second));
  }

  // The bitsandbytes module whose weight tensor is `name`; null when the
  // checkpoint stores `name` 16-bit.
  const BnbModule* bnb_module(const std::string& name) const {
    auto it = bnb_modules_.find(name);
    return it == bnb_modules_.end() ? nullptr : &it->second;
  }

  // A pre-quantized module keeps its stored format whatever the policy says
  // for its component: converting int8 codes to nf4 (or back to 16-bit)
  // would compound two quantizations. The engine's precision string says so
  // (model/bnb_precision.h). Read once, shared by every row view.
  Result<WeightPtr> prequantized(const BnbModule& m) {
    auto cached = prequantized_.find(m.name);
    if (cached != prequantized_.end()) return cached->second;
    QL_ASSIGN_OR_RETURN(quant::QuantizedWeightPtr stored,
                        read_bnb_weight(*ckpt_, bnb_->format, m.name, m.rows, m.cols, dtype_));
    count(bnb_module_stored_bytes(*ckpt_, bnb_->format, m.name, m.rows, m.cols));
    QL_ASSIGN_OR_RETURN(WeightPtr w, uploader_.upload_prequantized(m.weight->name, std::move(stored)));
    prequantized_.emplace(m.name, w);
    return w;
  }

  Result<WeightPtr> upload(const std::string& tensor, const SourceMatrix& m) {
    auto format = format_of(tensor);
    if (!format) return format.error();
    return uploader_.upload(m, *format);
  }

  const WeightSource& src_;
  const Checkpoint* ckpt_;           // null for a synthetic source
  const ValidationReport* report_;   // null for a synthetic source
  const std::optional<quant::PrecisionPolicy>& policy_;
  const std::vector<TensorSpec> schema_;
  std::unordered_map<std::string_view, const TensorSpec*> spec_by_name_;
  backend::Backend& backend_;
  WeightUploader uploader_;
  uint64_t total_;
  uint64_t done_ = 0;
  const WeightProgress& progress_;
  const std::atomic<bool>* cancel_;
  const std::optional<BnbQuantization> bnb_;
  const std::optional<DType> dtype_;
  std::unordered_map<std::string, BnbModule> bnb_modules_;  // by weight tensor name
  std::unordered_map<std::string, WeightPtr> prequantized_;  // by module name
};

Result<LinearWeights> linear(Loader& L, const std::string& prefix, bool bias) {
  LinearWeights lw;
  QL_ASSIGN_OR_RETURN(lw.w, L.whole(prefix + ".weight"));
  if (bias) {
    QL_ASSIGN_OR_RETURN(lw.b, L.whole(prefix + ".bias"));
  }
  return lw;
}

Result<MergerWeights> merger(Loader& L, const std::string& prefix) {
  MergerWeights m;
  QL_ASSIGN_OR_RETURN(m.norm_w, L.whole(prefix + ".norm.weight"));
  QL_ASSIGN_OR_RETURN(m.norm_b, L.whole(prefix + ".norm.bias"));
  QL_ASSIGN_OR_RETURN(m.fc1, linear(L, prefix + ".linear_fc1", true));
  QL_ASSIGN_OR_RETURN(m.fc2, linear(L, prefix + ".linear_fc2", true));
  return m;
}

Status load_vision(Loader& L, const VisionConfig& vc, ModelWeights& w) {
  QL_ASSIGN_OR_RETURN(w.patch_embed, linear(L, "model.visual.patch_embed.proj", true));
  QL_ASSIGN_OR_RETURN(w.pos_embed, L.whole("model.visual.pos_embed.weight"));
  const int64_t d = vc.hidden_size;
  for (int64_t b = 0; b < vc.depth; ++b) {
    const std::string p = fmt::format("model.visual.blocks.{}", b);
    VisionBlockWeights bw;
    QL_ASSIGN_OR_RETURN(bw.norm1_w, L.whole(p + ".norm1.weight"));
    QL_ASSIGN_OR_RETURN(bw.norm1_b, L.whole(p + ".norm1.bias"));
    QL_ASSIGN_OR_RETURN(bw.norm2_w, L.whole(p + ".norm2.weight"));
    QL_ASSIGN_OR_RETURN(bw.norm2_b, L.whole(p + ".norm2.bias"));
    // The fused qkv [3d, d] splits into three row ranges (q, k, v).
    LinearWeights* parts[3] = {&bw.q, &bw.k, &bw.v};
    for (int i = 0; i < 3; ++i) {
      QL_ASSIGN_OR_RETURN(parts[i]->w, L.rows_of(p + ".attn.qkv.weight", i * d, d));
      QL_ASSIGN_OR_RETURN(parts[i]->b, L.rows_of(p + ".attn.qkv.bias", i * d, d));
    }
    QL_ASSIGN_OR_RETURN(bw.proj, linear(L, p + ".attn.proj", true));
    QL_ASSIGN_OR_RETURN(bw.fc1, linear(L, p + ".mlp.linear_fc1", true));
    QL_ASSIGN_OR_RETURN(bw.fc2, linear(L, p + ".mlp.linear_fc2", true));
    w.blocks.push_back(std::move(bw));
  }
  QL_ASSIGN_OR_RETURN(w.merger, merger(L, "model.visual.merger"));
  for (size_t k = 0; k < vc.deepstack_visual_indexes.size(); ++k) {
    MergerWeights m;
    QL_ASSIGN_OR_RETURN(m, merger(L, fmt::format("model.visual.deepstack_merger_list.{}", k)));
    w.deepstack.push_back(std::move(m));
  }
  return {};
}

Status load_text(Loader& L, const ModelConfig& cfg, ModelWeights& w) {
  const TextConfig& tc = cfg.text;
  QL_ASSIGN_OR_RETURN(w.embed_tokens, L.whole("model.language_model.embed_tokens.weight"));
  for (int64_t l = 0; l < tc.num_layers; ++l) {
    const std::string p = fmt::format("model.language_model.layers.{}", l);
    TextLayerWeights lw;
    QL_ASSIGN_OR_RETURN(lw.input_norm, L.whole(p + ".input_layernorm.weight"));
    QL_ASSIGN_OR_RETURN(lw.post_norm, L.whole(p + ".post_attention_layernorm.weight"));
    QL_ASSIGN_OR_RETURN(lw.q, L.whole(p + ".self_attn.q_proj.weight"));
    QL_ASSIGN_OR_RETURN(lw.k, L.whole(p + ".self_attn.k_proj.weight"));
    QL_ASSIGN_OR_RETURN(lw.v, L.whole(p + ".self_attn.v_proj.weight"));
    QL_ASSIGN_OR_RETURN(lw.o, L.whole(p + ".self_attn.o_proj.weight"));
    QL_ASSIGN_OR_RETURN(lw.q_norm, L.whole(p + ".self_attn.q_norm.weight"));
    QL_ASSIGN_OR_RETURN(lw.k_norm, L.whole(p + ".self_attn.k_norm.weight"));
    lw.is_moe = tc.layer_is_moe[static_cast<size_t>(l)];
    if (lw.is_moe) {
      QL_ASSIGN_OR_RETURN(lw.moe.router, L.whole(p + ".mlp.gate.weight"));
      lw.moe.top_k = static_cast<int>(tc.num_experts_per_tok);
      QL_ASSIGN_OR_RETURN(lw.moe.gate_up, L.experts(p + ".mlp.experts.gate_up_proj"));
      QL_ASSIGN_OR_RETURN(lw.moe.down, L.experts(p + ".mlp.experts.down_proj"));
    } else {
      QL_ASSIGN_OR_RETURN(lw.mlp.gate, L.whole(p + ".mlp.gate_proj.weight"));
      QL_ASSIGN_OR_RETURN(lw.mlp.up, L.whole(p + ".mlp.up_proj.weight"));
      QL_ASSIGN_OR_RETURN(lw.mlp.down, L.whole(p + ".mlp.down_proj.weight"));
    }
    w.layers.push_back(std::move(lw));
  }
  QL_ASSIGN_OR_RETURN(w.final_norm, L.whole("model.language_model.norm.weight"));
  // Tied: the head is the embedding matrix (transformers ties them even when
  // the file also carries an lm_head tensor).
  if (cfg.tie_word_embeddings) {
    QL_ASSIGN_OR_RETURN(w.lm_head, L.tied_head("model.language_model.embed_tokens.weight", w.embed_tokens));
  } else {
    QL_ASSIGN_OR_RETURN(w.lm_head, L.whole("lm_head.weight"));
  }
  return {};
}

void log_fp16_totals(const Loader& loader) {
  if (loader.fp16_tensors() == 0) return;
  const quant::Dense16Report& r = loader.fp16_losses();
  spdlog::info("fp16 conversion of {} tensors: {} values overflowed to infinity, {} flushed to zero, {} subnormal",
               loader.fp16_tensors(), r.overflowed_to_inf, r.flushed_to_zero, r.became_subnormal);
}

}  // namespace

Result<ModelWeights> load_model_weights(const ModelConfig& config, const WeightSource& source,
                                        const Checkpoint* checkpoint, const ValidationReport* report,
                                        backend::Backend& backend, const WeightLoadOptions& options,
                                        const WeightProgress& progress, const std::atomic<bool>* cancel) {
  if (report && !report->ok()) return err("{}", report->summary());
  Loader loader(config, source, checkpoint, report, backend, options, progress, cancel);
  ModelWeights w;
  QL_TRY(load_text(loader, config, w));
  QL_TRY(load_vision(loader, config.vision, w));
  w.bytes = loader.stored_bytes();
  w.fp16_losses = loader.fp16_losses();
  log_fp16_totals(loader);
  return w;
}

}  // namespace ql::model
