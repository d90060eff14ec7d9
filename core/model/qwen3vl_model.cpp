// The Qwen3-VL-MoE forward (MODEL.md §3, §7-§10), in the order the data flows:
// vision tower -> token embeddings with image rows replaced -> 3-D positions
// -> decoder layers (attention with q/k norm and M-RoPE over the KV cache, MoE
// or dense MLP, DeepStack after the first layers) -> final norm -> lm_head.
#include "core/model/qwen3vl_model.h"

#include <algorithm>
#include <cmath>

#include "core/model/bnb_validation.h"
#include "core/model/model_weights.h"
#include "core/model/rotary.h"
#include "core/model/tensor_schema.h"
#include "core/model/tensor_validation.h"
#include "core/model/vision_tower.h"

namespace ql::model {
namespace {

using backend::TensorPtr;
constexpr backend::DType kF32 = backend::DType::kF32;
constexpr backend::DType kI32 = backend::DType::kI32;

bool cancelled(const std::atomic<bool>* c) { return c && c->load(std::memory_order_relaxed); }

TensorPtr new_f32(backend::Backend& be, int64_t rows, int64_t cols) { return be.new_tensor(kF32, rows, cols); }

TensorPtr linear(backend::Backend& be, const TensorPtr& x, const backend::Weight& w) {
  auto out = new_f32(be, x->rows(), w.rows());
  be.linear(*x, w, nullptr, *out);
  return out;
}

TensorPtr upload_i32(backend::Backend& be, const std::vector<int32_t>& v) {
  auto t = be.new_tensor(kI32, static_cast<int64_t>(v.size()), 1);
  be.write(*t, v.data(), v.size() * sizeof(int32_t));
  return t;
}

TensorPtr upload_f32(backend::Backend& be, const std::vector<float>& v, int64_t rows, int64_t cols) {
  auto t = new_f32(be, rows, cols);
  be.write(*t, v.data(), v.size() * sizeof(float));
  return t;
}

// What one decoder pass needs besides the weights and the cache.
struct DecoderPass {
  TensorPtr hidden;                  // [n, H], updated in place
  TensorPtr cos, sin;                // [n, head_dim]
  int64_t past = 0;                  // tokens already in the cache
  TensorPtr image_rows;              // I32 [image tokens, 1], chunk-relative; null without images
  std::vector<TensorPtr> deepstack;  // added at image_rows after layer l < size()
};

// Attention block of one layer (MODEL.md §9.3): q/k RMSNorm per head, M-RoPE,
// K and V appended to the cache, causal attention over everything cached.
void attention_block(backend::Backend& be, const TextLayerWeights& lw, const TextConfig& tc, TensorPtr& k_cache,
                     TensorPtr& v_cache, DecoderPass& p, const TensorPtr& normed) {
  const int64_t n = normed->rows();
  const int64_t hd = tc.head_dim;
  const float eps = static_cast<float>(tc.rms_norm_eps);
  auto q = linear(be, normed, *lw.q);
  auto k = linear(be, normed, *lw.k);
  auto v = linear(be, normed, *lw.v);
  auto qn = new_f32(be, q->rows(), q->cols());
  auto kn = new_f32(be, k->rows(), k->cols());
  be.rms_norm(*q, *lw.q_norm, eps, hd, *qn);
  be.rms_norm(*k, *lw.k_norm, eps, hd, *kn);
  be.rope(*qn, *p.cos, *p.sin, static_cast<int>(hd));
  be.rope(*kn, *p.cos, *p.sin, static_cast<int>(hd));
  be.copy_rows(*kn, *k_cache, p.past);
  be.copy_rows(*v, *v_cache, p.past);
  const int64_t keys = p.past + n;
  auto k_all = be.view(k_cache, 0, keys, k_cache->cols());
  auto v_all = be.view(v_cache, 0, keys, v_cache->cols());
  backend::AttentionSpec spec;
  spec.num_heads = static_cast<int>(tc.num_heads);
  spec.num_kv_heads = static_cast<int>(tc.num_kv_heads);
  spec.head_dim = static_cast<int>(hd);
  spec.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  spec.causal = true;
  spec.q_offset = p.past;
  auto o = new_f32(be, n, tc.num_heads * hd);
  be.attention(*qn, *k_all, *v_all, spec, *o);
  auto out = linear(be, o, *lw.o);
  be.add(*p.hidden, *out, *p.hidden);
}

void mlp_block(backend::Backend& be, const TextLayerWeights& lw, const TensorPtr& normed, DecoderPass& p) {
  TensorPtr y;
  if (lw.is_moe) {
    y = new_f32(be, normed->rows(), normed->cols());
    be.moe(*normed, lw.moe, *y);
  } else {
    auto gate = linear(be, normed, *lw.mlp.gate);
    auto up = linear(be, normed, *lw.mlp.up);
    auto act = new_f32(be, gate->rows(), gate->cols());
    be.swiglu(*gate, *up, *act);
    y = linear(be, act, *lw.mlp.down);
  }
  be.add(*p.hidden, *y, *p.hidden);
}

Status run_decoder(backend::Backend& be, const ModelWeights& w, const TextConfig& tc, std::vector<TensorPtr>& k,
                   std::vector<TensorPtr>& v, DecoderPass& p, const std::atomic<bool>* cancel) {
  const float eps = static_cast<float>(tc.rms_norm_eps);
  auto normed = new_f32(be, p.hidden->rows(), p.hidden->cols());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    if (cancelled(cancel)) return err("{}", kCancelledMessage);
    const auto& lw = w.layers[l];
    be.rms_norm(*p.hidden, *lw.input_norm, eps, tc.hidden_size, *normed);
    attention_block(be, lw, tc, k[l], v[l], p, normed);
    be.rms_norm(*p.hidden, *lw.post_norm, eps, tc.hidden_size, *normed);
    mlp_block(be, lw, normed, p);
    // DeepStack: visual features of vision block deepstack_visual_indexes[l]
    // join the image rows after layer l (MODEL.md §7).
    if (p.image_rows && l < p.deepstack.size()) be.scatter_add_rows(*p.deepstack[l], *p.image_rows, *p.hidden);
  }
  return {};
}

// Final RMSNorm and lm_head over the chosen chunk-relative rows.
TensorPtr logits_of(backend::Backend& be, const ModelWeights& w, const TextConfig& tc, const TensorPtr& hidden,
                    const std::vector<int32_t>& rows) {
  auto idx = upload_i32(be, rows);
  auto picked = new_f32(be, static_cast<int64_t>(rows.size()), hidden->cols());
  be.gather_rows(*hidden, *idx, *picked);
  auto normed = new_f32(be, picked->rows(), picked->cols());
  be.rms_norm(*picked, *w.final_norm, static_cast<float>(tc.rms_norm_eps), tc.hidden_size, *normed);
  return linear(be, normed, *w.lm_head);
}

}  // namespace

// ---- KvCache ------------------------------------------------------------------

Status KvCache::truncate(int64_t n) {
  if (n < 0 || n > length()) return err("cannot keep {} tokens of a sequence of {}", n, length());
  size_t keep_images = 0;
  for (size_t i = 0; i < image_token_ends_.size(); ++i) {
    const int64_t end = image_token_ends_[i];
    const int64_t start = end - (grids_[i].t * grids_[i].h * grids_[i].w) / merge_;
    if (end <= n) {
      keep_images = i + 1;
    } else if (start < n) {
      return err("cannot cut the sequence at token {}: it is inside image {} (tokens {}..{})", n, i, start, end - 1);
    }
  }
  tokens_.resize(static_cast<size_t>(n));
  grids_.resize(keep_images);
  image_token_ends_.resize(keep_images);
  // rope_delta of the kept prefix: recomputed by the next prefill from tokens_.
  return {};
}

size_t KvCache::bytes() const {
  size_t b = 0;
  for (const auto& t : k) b += static_cast<size_t>(t->numel()) * sizeof(float);
  for (const auto& t : v) b += static_cast<size_t>(t->numel()) * sizeof(float);
  return b;
}

// ---- Qwen3VLModel -----------------------------------------------------------------

Qwen3VLModel::Qwen3VLModel(const ModelConfig& config, backend::Backend& backend) : config_(config), backend_(backend) {}
Qwen3VLModel::~Qwen3VLModel() = default;

size_t Qwen3VLModel::weight_bytes() const { return weights_ ? weights_->bytes : 0; }
quant::Dense16Report Qwen3VLModel::fp16_losses() const {
  return weights_ ? weights_->fp16_losses : quant::Dense16Report{};
}

Result<std::unique_ptr<Qwen3VLModel>> Qwen3VLModel::load(const ModelConfig& config, const Checkpoint& checkpoint,
                                                         backend::Backend& backend, const LoadProgress& progress,
                                                         const std::atomic<bool>* cancel,
                                                         const WeightLoadOptions& weight_options) {
  if (progress) progress(0.0, "checking tensors");
  const ValidationReport report = validate_model_checkpoint(checkpoint, config);
  if (!report.ok()) {
    std::string msg = report.summary();
    const size_t shown = std::min<size_t>(report.problems.size(), 5);
    for (size_t i = 0; i < shown; ++i) msg += "; " + report.problems[i];
    if (report.problems.size() > shown) msg += fmt::format("; and {} more", report.problems.size() - shown);
    return err("{}", msg);
  }
  std::unique_ptr<Qwen3VLModel> model(new Qwen3VLModel(config, backend));
  WeightProgress wp;
  if (progress) wp = [&](double f) { progress(f, "loading weights"); };
  auto weights = load_model_weights(config, checkpoint, report, backend, weight_options, wp, cancel);
  if (!weights.ok()) return weights.error();
  model->weights_ = std::make_unique<ModelWeights>(std::move(weights).value());
  if (progress) progress(1.0, "ready");
  return model;
}

std::unique_ptr<KvCache> Qwen3VLModel::new_cache(int64_t capacity) const {
  auto c = std::make_unique<KvCache>();
  c->capacity_ = capacity;
  c->merge_ = config_.vision.spatial_merge_size * config_.vision.spatial_merge_size;
  const int64_t width = config_.text.num_kv_heads * config_.text.head_dim;
  for (int64_t l = 0; l < config_.text.num_layers; ++l) {
    c->k.push_back(backend_.new_tensor(backend::DType::kF32, capacity, width));
    c->v.push_back(backend_.new_tensor(backend::DType::kF32, capacity, width));
  }
  return c;
}

Result<ForwardResult> Qwen3VLModel::prefill(KvCache& cache, std::span<const int32_t> ids,
                                            std::span<const vision::PreprocessedImage> images,
                                            std::span<const int64_t> logit_rows,
                                            const std::atomic<bool>* cancel) const {
  const TextConfig& tc = config_.text;
  const int64_t n = static_cast<int64_t>(ids.size());
  const int64_t past = cache.length();
  if (n == 0) return err("empty prompt");
  if (past + n > cache.capacity()) {
    return err("context full: {} cached + {} new tokens exceed the context of {} tokens", past, n, cache.capacity());
  }
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= tc.vocab_size) {
      return err("token id {} at position {} is outside the vocabulary of {}", ids[i], past + i, tc.vocab_size);
    }
  }
  // Positions of the whole sequence (earlier images included), then this chunk's tail.
  std::vector<int32_t> all(cache.tokens().begin(), cache.tokens().end());
  all.insert(all.end(), ids.begin(), ids.end());
  std::vector<ImageGrid> grids = cache.grids();
  for (const auto& im : images) grids.push_back({im.grid_t, im.grid_h, im.grid_w});
  const int64_t merge = config_.vision.spatial_merge_size;
  auto pos = compute_positions(all, static_cast<int32_t>(config_.image_token_id), grids, merge);
  if (!pos.ok()) return pos.error();

  backend::Backend& be = backend_;
  DecoderPass p;
  p.past = past;
  auto id_tensor = upload_i32(be, std::vector<int32_t>(ids.begin(), ids.end()));
  p.hidden = new_f32(be, n, tc.hidden_size);
  be.embed(*id_tensor, *weights_->embed_tokens, *p.hidden);

  std::vector<int32_t> image_rows;
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] == config_.image_token_id) image_rows.push_back(static_cast<int32_t>(i));
  if (!images.empty()) {
    auto vis = run_vision_tower(be, *weights_, config_.vision, images, cancel);
    if (!vis.ok()) return vis.error();
    if (vis->merged->rows() != static_cast<int64_t>(image_rows.size())) {
      return err("the prompt has {} image tokens but its images give {}", image_rows.size(), vis->merged->rows());
    }
    p.image_rows = upload_i32(be, image_rows);
    be.scatter_rows(*vis->merged, *p.image_rows, *p.hidden);
    p.deepstack = std::move(vis->deepstack);
  } else if (!image_rows.empty()) {
    return err("the prompt has {} image tokens but no image", image_rows.size());
  }

  const auto rot = text_rotary(pos->ids, past, n, tc.head_dim, tc.rope_theta, tc.mrope_section);
  p.cos = upload_f32(be, rot.cos, n, tc.head_dim);
  p.sin = upload_f32(be, rot.sin, n, tc.head_dim);
  QL_TRY(run_decoder(be, *weights_, tc, cache.k, cache.v, p, cancel));

  ForwardResult r;
  std::vector<int32_t> rows;
  for (int64_t row : logit_rows) {
    if (row >= past && row < past + n - 1) {
      rows.push_back(static_cast<int32_t>(row - past));
      r.rows.push_back(row);
    }
  }
  rows.push_back(static_cast<int32_t>(n - 1));
  r.rows.push_back(past + n - 1);
  r.logits = logits_of(be, *weights_, tc, p.hidden, rows);
  for (int a = 0; a < 3; ++a) {
    r.positions.axis[a].assign(pos->ids.axis[a].begin() + past, pos->ids.axis[a].end());
  }
  // Commit: only a finished forward changes the sequence.
  cache.tokens_ = std::move(all);
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] == config_.image_token_id && (i + 1 == n || ids[i + 1] != config_.image_token_id)) {
      cache.image_token_ends_.push_back(past + i + 1);
      cache.grids_.push_back(grids[cache.grids_.size()]);
    }
  }
  cache.rope_delta_ = pos->rope_delta;
  return r;
}

Result<ForwardResult> Qwen3VLModel::decode(KvCache& cache, int32_t token) const {
  const TextConfig& tc = config_.text;
  const int64_t past = cache.length();
  if (past + 1 > cache.capacity()) return err("context full: the context of {} tokens is used up", cache.capacity());
  if (token < 0 || token >= tc.vocab_size) return err("token id {} is outside the vocabulary of {}", token, tc.vocab_size);
  backend::Backend& be = backend_;
  DecoderPass p;
  p.past = past;
  auto id_tensor = upload_i32(be, {token});
  p.hidden = new_f32(be, 1, tc.hidden_size);
  be.embed(*id_tensor, *weights_->embed_tokens, *p.hidden);
  // A generated token sits at its sequence index plus rope_delta on every axis (MODEL.md §8).
  const int64_t position = past + cache.rope_delta();
  const auto rot = text_rotary_1d(position, tc.head_dim, tc.rope_theta, tc.mrope_section);
  p.cos = upload_f32(be, rot.cos, 1, tc.head_dim);
  p.sin = upload_f32(be, rot.sin, 1, tc.head_dim);
  QL_TRY(run_decoder(be, *weights_, tc, cache.k, cache.v, p, nullptr));
  ForwardResult r;
  r.logits = logits_of(be, *weights_, tc, p.hidden, {0});
  r.rows.push_back(past);
  for (auto& a : r.positions.axis) a.push_back(position);
  cache.tokens_.push_back(token);
  return r;
}

}  // namespace ql::model
