#include "core/model/model_weights.h"

#include <fmt/format.h>

#include "core/model/qwen3vl_model.h"

namespace ql::model {
namespace {

backend::WeightFormat format_of(DType t) {
  switch (t) {
    case DType::kBF16: return backend::WeightFormat::kBF16;
    case DType::kF16: return backend::WeightFormat::kF16;
    case DType::kF32: return backend::WeightFormat::kF32;
  }
  return backend::WeightFormat::kF32;
}

// Walks the checkpoint in schema order, uploading slices and counting bytes.
class Loader {
 public:
  Loader(const Checkpoint& ckpt, const ValidationReport& report, backend::Backend& be, uint64_t total,
         const WeightProgress& progress, const std::atomic<bool>* cancel)
      : ckpt_(ckpt), report_(report), be_(be), total_(total), progress_(progress), cancel_(cancel) {}

  // The whole tensor as one weight: vectors [1, n], matrices [r, c], higher
  // ranks [dim0, product of the rest] (the patch-embedding Conv3d).
  Result<WeightPtr> whole(const std::string& name) {
    QL_TRY(check_cancel());
    auto view = ckpt_.find(name);
    if (!view) return err("{}: tensor {} is missing", ckpt_.dir(), name);
    int64_t rows = 1, cols = 1;
    if (view->shape.size() == 1) {
      cols = view->shape[0];
    } else {
      rows = view->shape[0];
      for (size_t i = 1; i < view->shape.size(); ++i) cols *= view->shape[i];
    }
    count(view->nbytes);
    return upload(*view, name, 0, rows, cols, false);
  }

  // Rows [first, first + rows) of a 2-D tensor, or elements of a vector.
  Result<WeightPtr> rows_of(const std::string& name, int64_t first, int64_t rows) {
    QL_TRY(check_cancel());
    auto view = ckpt_.find(name);
    if (!view) return err("{}: tensor {} is missing", ckpt_.dir(), name);
    if (view->shape.size() == 1) {
      count(static_cast<size_t>(rows) * dtype_size(view->dtype));
      return upload(*view, name, first, 1, rows, false);
    }
    const int64_t cols = view->shape[1];
    count(static_cast<size_t>(rows * cols) * dtype_size(view->dtype));
    return upload(*view, name, first * cols, rows, cols, false);
  }

  // Expert e of a fused [E, a, b] tensor, presented as [out, in].
  Result<WeightPtr> expert(const std::string& name, int64_t e) {
    QL_TRY(check_cancel());
    auto view = ckpt_.find(name);
    if (!view) return err("{}: tensor {} is missing", ckpt_.dir(), name);
    auto it = report_.expert_orientation.find(name);
    const bool in_out = it == report_.expert_orientation.end() || it->second == ExpertOrientation::kInOut;
    const int64_t a = view->shape[1], b = view->shape[2];
    count(static_cast<size_t>(a * b) * dtype_size(view->dtype));
    // [in, out] stored (published): rows = out = b, cols = in = a, transposed.
    return in_out ? upload(*view, name, e * a * b, b, a, true) : upload(*view, name, e * a * b, a, b, false);
  }

 private:
  Status check_cancel() const {
    if (cancel_ && cancel_->load(std::memory_order_relaxed)) return err("{}", kCancelledMessage);
    return {};
  }

  void count(size_t bytes) {
    done_ += bytes;
    if (progress_ && total_ > 0) progress_(static_cast<double>(done_) / static_cast<double>(total_));
  }

  Result<WeightPtr> upload(const TensorView& view, const std::string& name, int64_t first_element, int64_t rows,
                           int64_t cols, bool transposed) {
    backend::HostWeight hw;
    hw.format = format_of(view.dtype);
    hw.rows = rows;
    hw.cols = cols;
    hw.data = view.data + static_cast<size_t>(first_element) * dtype_size(view.dtype);
    hw.transposed = transposed;
    hw.name = name;
    return be_.upload_weight(hw);
  }

  const Checkpoint& ckpt_;
  const ValidationReport& report_;
  backend::Backend& be_;
  uint64_t total_;
  uint64_t done_ = 0;
  const WeightProgress& progress_;
  const std::atomic<bool>* cancel_;
};

#define QL_ASSIGN(lhs, expr)           \
  do {                                 \
    auto ql_r_ = (expr);               \
    if (!ql_r_.ok()) return ql_r_.error(); \
    lhs = std::move(ql_r_).value();    \
  } while (0)

Result<LinearWeights> linear(Loader& L, const std::string& prefix, bool bias) {
  LinearWeights lw;
  QL_ASSIGN(lw.w, L.whole(prefix + ".weight"));
  if (bias) QL_ASSIGN(lw.b, L.whole(prefix + ".bias"));
  return lw;
}

Result<MergerWeights> merger(Loader& L, const std::string& prefix) {
  MergerWeights m;
  QL_ASSIGN(m.norm_w, L.whole(prefix + ".norm.weight"));
  QL_ASSIGN(m.norm_b, L.whole(prefix + ".norm.bias"));
  QL_ASSIGN(m.fc1, linear(L, prefix + ".linear_fc1", true));
  QL_ASSIGN(m.fc2, linear(L, prefix + ".linear_fc2", true));
  return m;
}

Status load_vision(Loader& L, const VisionConfig& vc, ModelWeights& w) {
  QL_ASSIGN(w.patch_embed, linear(L, "model.visual.patch_embed.proj", true));
  QL_ASSIGN(w.pos_embed, L.whole("model.visual.pos_embed.weight"));
  const int64_t d = vc.hidden_size;
  for (int64_t b = 0; b < vc.depth; ++b) {
    const std::string p = fmt::format("model.visual.blocks.{}", b);
    VisionBlockWeights bw;
    QL_ASSIGN(bw.norm1_w, L.whole(p + ".norm1.weight"));
    QL_ASSIGN(bw.norm1_b, L.whole(p + ".norm1.bias"));
    QL_ASSIGN(bw.norm2_w, L.whole(p + ".norm2.weight"));
    QL_ASSIGN(bw.norm2_b, L.whole(p + ".norm2.bias"));
    // The fused qkv [3d, d] splits into three row ranges (q, k, v).
    LinearWeights* parts[3] = {&bw.q, &bw.k, &bw.v};
    for (int i = 0; i < 3; ++i) {
      QL_ASSIGN(parts[i]->w, L.rows_of(p + ".attn.qkv.weight", i * d, d));
      QL_ASSIGN(parts[i]->b, L.rows_of(p + ".attn.qkv.bias", i * d, d));
    }
    QL_ASSIGN(bw.proj, linear(L, p + ".attn.proj", true));
    QL_ASSIGN(bw.fc1, linear(L, p + ".mlp.linear_fc1", true));
    QL_ASSIGN(bw.fc2, linear(L, p + ".mlp.linear_fc2", true));
    w.blocks.push_back(std::move(bw));
  }
  QL_ASSIGN(w.merger, merger(L, "model.visual.merger"));
  for (size_t k = 0; k < vc.deepstack_visual_indexes.size(); ++k) {
    MergerWeights m;
    QL_ASSIGN(m, merger(L, fmt::format("model.visual.deepstack_merger_list.{}", k)));
    w.deepstack.push_back(std::move(m));
  }
  return {};
}

Status load_text(Loader& L, const ModelConfig& cfg, ModelWeights& w) {
  const TextConfig& tc = cfg.text;
  QL_ASSIGN(w.embed_tokens, L.whole("model.language_model.embed_tokens.weight"));
  for (int64_t l = 0; l < tc.num_layers; ++l) {
    const std::string p = fmt::format("model.language_model.layers.{}", l);
    TextLayerWeights lw;
    QL_ASSIGN(lw.input_norm, L.whole(p + ".input_layernorm.weight"));
    QL_ASSIGN(lw.post_norm, L.whole(p + ".post_attention_layernorm.weight"));
    QL_ASSIGN(lw.q, L.whole(p + ".self_attn.q_proj.weight"));
    QL_ASSIGN(lw.k, L.whole(p + ".self_attn.k_proj.weight"));
    QL_ASSIGN(lw.v, L.whole(p + ".self_attn.v_proj.weight"));
    QL_ASSIGN(lw.o, L.whole(p + ".self_attn.o_proj.weight"));
    QL_ASSIGN(lw.q_norm, L.whole(p + ".self_attn.q_norm.weight"));
    QL_ASSIGN(lw.k_norm, L.whole(p + ".self_attn.k_norm.weight"));
    lw.is_moe = tc.layer_is_moe[static_cast<size_t>(l)];
    if (lw.is_moe) {
      QL_ASSIGN(lw.moe.router, L.whole(p + ".mlp.gate.weight"));
      lw.moe.top_k = static_cast<int>(tc.num_experts_per_tok);
      for (int64_t e = 0; e < tc.num_experts; ++e) {
        WeightPtr gu, dn;
        QL_ASSIGN(gu, L.expert(p + ".mlp.experts.gate_up_proj", e));
        QL_ASSIGN(dn, L.expert(p + ".mlp.experts.down_proj", e));
        lw.moe.gate_up.push_back(std::move(gu));
        lw.moe.down.push_back(std::move(dn));
      }
    } else {
      QL_ASSIGN(lw.mlp.gate, L.whole(p + ".mlp.gate_proj.weight"));
      QL_ASSIGN(lw.mlp.up, L.whole(p + ".mlp.up_proj.weight"));
      QL_ASSIGN(lw.mlp.down, L.whole(p + ".mlp.down_proj.weight"));
    }
    w.layers.push_back(std::move(lw));
  }
  QL_ASSIGN(w.final_norm, L.whole("model.language_model.norm.weight"));
  // Tied: the head is the embedding matrix (transformers ties them even when
  // the file also carries an lm_head tensor).
  if (cfg.tie_word_embeddings) {
    w.lm_head = w.embed_tokens;
  } else {
    QL_ASSIGN(w.lm_head, L.whole("lm_head.weight"));
  }
  return {};
}

uint64_t total_bytes(const Checkpoint& ckpt) {
  uint64_t total = 0;
  for (const auto& t : ckpt.tensors()) total += t.nbytes;
  return total;
}

}  // namespace

Result<ModelWeights> load_model_weights(const ModelConfig& config, const Checkpoint& checkpoint,
                                        const ValidationReport& report, backend::Backend& backend,
                                        const WeightProgress& progress, const std::atomic<bool>* cancel) {
  if (!report.ok()) return err("{}", report.summary());
  const uint64_t total = total_bytes(checkpoint);
  Loader loader(checkpoint, report, backend, total, progress, cancel);
  ModelWeights w;
  QL_TRY(load_text(loader, config, w));
  QL_TRY(load_vision(loader, config.vision, w));
  w.bytes = total;
  return w;
}

}  // namespace ql::model
