#include "core/model/decoder_layers.h"

#include <cmath>

#include "core/model/qwen3vl_model.h"

namespace ql::model {
namespace {

using backend::TensorPtr;

TensorPtr act(backend::Backend& be, int64_t rows, int64_t cols) {
  return be.new_tensor(be.activation_dtype(), rows, cols);
}

// Attention block of one layer (docs/model.md §9.3): q/k RMSNorm per head, M-RoPE,
// K and V into the cache, causal attention over everything cached, and the
// output projection added to the residual.
void attention_block(backend::Backend& be, const TextLayerWeights& lw, const TextConfig& tc,
                     backend::Tensor& k_cache, backend::Tensor& v_cache, DecoderInputs& in,
                     const backend::Tensor& normed) {
  const int64_t n = normed.rows();
  const int64_t hd = tc.head_dim;
  auto q = act(be, n, lw.q->rows());
  auto k = act(be, n, lw.k->rows());
  auto v = act(be, n, lw.v->rows());
  const backend::Weight* const qkv_w[] = {lw.q.get(), lw.k.get(), lw.v.get()};
  backend::Tensor* const qkv[] = {q.get(), k.get(), v.get()};
  be.linear_same_input(normed, qkv_w, qkv);
  backend::AttentionSpec spec;
  spec.num_heads = static_cast<int>(tc.num_heads);
  spec.num_kv_heads = static_cast<int>(tc.num_kv_heads);
  spec.head_dim = static_cast<int>(hd);
  spec.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const StepTensors& st = *in.steps;
  be.qk_norm_rope_cache(*q, *k, *v, *lw.q_norm, *lw.k_norm, static_cast<float>(tc.rms_norm_eps), *st.cos, *st.sin,
                        *st.write_rows, spec, k_cache, v_cache);
  auto o = act(be, n, tc.num_heads * hd);
  be.attention_cached(*q, k_cache, v_cache, spec, *st.spans, *o);
  be.linear(*o, *lw.o, nullptr, *in.hidden, true);
}

void mlp_block(backend::Backend& be, const TextLayerWeights& lw, const backend::Tensor& normed, DecoderInputs& in) {
  if (lw.is_moe) {
    be.moe(normed, lw.moe, *in.hidden, true);
    return;
  }
  auto gate = act(be, normed.rows(), lw.mlp.gate->rows());
  auto up = act(be, normed.rows(), lw.mlp.up->rows());
  const backend::Weight* const gate_up_w[] = {lw.mlp.gate.get(), lw.mlp.up.get()};
  backend::Tensor* const gate_up[] = {gate.get(), up.get()};
  be.linear_same_input(normed, gate_up_w, gate_up);
  auto prod = act(be, gate->rows(), gate->cols());
  be.swiglu(*gate, *up, *prod);
  be.linear(*prod, *lw.mlp.down, nullptr, *in.hidden, true);
}

}  // namespace

Status run_decoder_layers(backend::Backend& be, const ModelWeights& w, const TextConfig& tc,
                          std::vector<TensorPtr>& k_cache, std::vector<TensorPtr>& v_cache, DecoderInputs& in,
                          const std::atomic<bool>* cancel, StepProgress* progress) {
  const float eps = static_cast<float>(tc.rms_norm_eps);
  auto normed = act(be, in.hidden->rows(), in.hidden->cols());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    if (cancel && cancel->load(std::memory_order_relaxed)) return err("{}", kCancelledMessage);
    const size_t mark = be.arena_mark();
    const auto& lw = w.layers[l];
    be.rms_norm(*in.hidden, *lw.input_norm, eps, tc.hidden_size, *normed);
    attention_block(be, lw, tc, *k_cache[l], *v_cache[l], in, *normed);
    be.rms_norm(*in.hidden, *lw.post_norm, eps, tc.hidden_size, *normed);
    mlp_block(be, lw, *normed, in);
    // DeepStack: visual features of vision block deepstack_visual_indexes[l]
    // join the image rows after layer l (docs/model.md §7).
    if (in.image_rows && l < in.deepstack.size()) be.scatter_add_rows(*in.deepstack[l], *in.image_rows, *in.hidden);
    be.rewind(mark);
    if (progress) progress->advance();
  }
  return {};
}

void final_logits(backend::Backend& be, const ModelWeights& w, const TextConfig& tc, const backend::Tensor& hidden,
                  const backend::Tensor* rows, backend::Tensor& out) {
  const size_t mark = be.arena_mark();
  const int64_t r = rows ? rows->rows() : hidden.rows();
  auto normed = act(be, r, hidden.cols());
  if (rows) {
    auto picked = act(be, r, hidden.cols());
    be.gather_rows(hidden, *rows, *picked);
    be.rms_norm(*picked, *w.final_norm, static_cast<float>(tc.rms_norm_eps), tc.hidden_size, *normed);
  } else {
    be.rms_norm(hidden, *w.final_norm, static_cast<float>(tc.rms_norm_eps), tc.hidden_size, *normed);
  }
  be.linear(*normed, *w.lm_head, nullptr, out, false);
  be.rewind(mark);
}

}  // namespace ql::model
