#include "core/model/vision_tower.h"

#include <algorithm>
#include <cmath>

#include "core/model/qwen3vl_model.h"
#include "core/model/rotary.h"
#include "core/model/vision_pos_embed.h"

namespace ql::model {
namespace {

using backend::TensorPtr;

constexpr float kVisionNormEps = 1e-6f;  // hard-coded in transformers (docs/model.md §1.3)

bool cancelled(const std::atomic<bool>* c) { return c && c->load(std::memory_order_relaxed); }

TensorPtr act(backend::Backend& be, int64_t rows, int64_t cols) {
  return be.new_tensor(be.activation_dtype(), rows, cols);
}

TensorPtr linear(backend::Backend& be, const TensorPtr& x, const LinearWeights& lw) {
  auto out = act(be, x->rows(), lw.w->rows());
  be.linear(*x, *lw.w, lw.b.get(), *out, false);
  return out;
}

// LayerNorm -> fc1 -> exact GELU -> fc2 over merge groups of 4 patches, into
// `out`. The final merger normalises each patch before grouping, the
// DeepStack mergers normalise the grouped row (use_postshuffle_norm). Its
// temporaries are freed before it returns.
void run_merger(backend::Backend& be, const TensorPtr& x, const MergerWeights& m, int64_t group,
                bool norm_after_grouping, backend::Tensor& out) {
  const size_t mark = be.arena_mark();
  const int64_t tokens = x->rows() / group;
  const int64_t width = x->cols() * group;
  TensorPtr grouped;
  if (norm_after_grouping) {
    auto xv = be.view(x, 0, tokens, width);
    grouped = act(be, tokens, width);
    be.layer_norm(*xv, *m.norm_w, *m.norm_b, kVisionNormEps, *grouped);
  } else {
    auto normed = act(be, x->rows(), x->cols());
    be.layer_norm(*x, *m.norm_w, *m.norm_b, kVisionNormEps, *normed);
    grouped = be.view(normed, 0, tokens, width);
  }
  auto h = linear(be, grouped, m.fc1);
  auto g = act(be, h->rows(), h->cols());
  be.gelu(*h, backend::GeluKind::kErf, *g);
  be.linear(*g, *m.fc2.w, m.fc2.b.get(), out, false);
  be.rewind(mark);
}

// Full attention within each image frame. A backend that limits the scores of
// one call (the CPU: a stop request must be seen within milliseconds, and one
// frame's attention alone can take 100 ms) gets each frame in chunks of query
// rows; otherwise (the GPU) every frame of every image is one call.
Status frame_attention(backend::Backend& be, const TensorPtr& q, const TensorPtr& k, const TensorPtr& v,
                       const std::vector<int64_t>& frame_starts, const backend::AttentionSpec& spec,
                       const TensorPtr& out, const std::atomic<bool>* cancel) {
  const int64_t limit = be.attention_scores_per_call();
  const int64_t cols = q->cols(), kv_cols = k->cols();
  if (limit == 0) {
    be.attention(*q, *k, *v, spec, frame_starts, *out);
    return {};
  }
  for (size_t f = 0; f + 1 < frame_starts.size(); ++f) {
    const int64_t s0 = frame_starts[f], len = frame_starts[f + 1] - s0;
    const auto kf = be.view(k, s0, len, kv_cols);
    const auto vf = be.view(v, s0, len, kv_cols);
    const int64_t chunk = std::max<int64_t>(1, limit / std::max<int64_t>(len, 1));
    for (int64_t r = 0; r < len; r += chunk) {
      if (cancelled(cancel)) return err("{}", kCancelledMessage);
      const int64_t rows = std::min(chunk, len - r);
      const auto qc = be.view(q, s0 + r, rows, cols);
      const auto oc = be.view(out, s0 + r, rows, cols);
      // A chunk of a frame's queries against all of the frame's keys: one segment.
      be.attention(*qc, *kf, *vf, spec, {}, *oc);
    }
  }
  return {};
}

}  // namespace

Result<VisionOutput> run_vision_tower(backend::Backend& be, const ModelWeights& w, const VisionConfig& vc,
                                      std::span<const vision::PreprocessedImage> images,
                                      const std::atomic<bool>* cancel, StepProgress* progress) {
  const int64_t patch_dim = w.patch_embed.w->cols();
  const int64_t merge = vc.spatial_merge_size;
  std::vector<ImageGrid> grids;
  int64_t patches = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& im = images[i];
    if (im.patch_dim != patch_dim) {
      return err("image {}: patches of {} values, the vision tower takes {}", i, im.patch_dim, patch_dim);
    }
    if (im.merge_size != merge || im.grid_h % merge || im.grid_w % merge) {
      return err("image {}: grid {}x{} does not fit merge size {}", i, im.grid_h, im.grid_w, merge);
    }
    grids.push_back({im.grid_t, im.grid_h, im.grid_w});
    patches += im.num_patches();
  }
  const int64_t d = vc.hidden_size;
  const int64_t heads = vc.num_heads;
  const int64_t hd = vc.head_dim();

  // The outputs first: they outlive the tower's temporaries (rewound below).
  const int64_t tokens = patches / (merge * merge);
  VisionOutput out;
  out.merged = act(be, tokens, vc.out_hidden_size);
  const auto& ds = vc.deepstack_visual_indexes;
  for (size_t i = 0; i < ds.size(); ++i) out.deepstack.push_back(act(be, tokens, vc.out_hidden_size));
  const size_t mark = be.arena_mark();

  // Patch embedding (a Conv3d whose stride equals its kernel is a linear map).
  auto px = act(be, patches, patch_dim);
  int64_t row = 0;
  for (const auto& im : images) {
    auto part = be.view(px, row, im.num_patches(), patch_dim);
    be.write(*part, im.pixel_values.data(), im.pixel_values.size() * sizeof(float));
    row += im.num_patches();
  }
  auto x = linear(be, px, w.patch_embed);

  const int64_t side = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(vc.num_position_embeddings))));
  const auto taps = vision_pos_embed_taps(grids, merge, side);
  auto tap_idx = be.new_tensor(backend::DType::kI32, patches, 4);
  auto tap_w = act(be, patches, 4);
  be.write(*tap_idx, taps.indices.data(), taps.indices.size() * sizeof(int32_t));
  be.write(*tap_w, taps.weights.data(), taps.weights.size() * sizeof(float));
  be.add_weighted_rows(*w.pos_embed, *tap_idx, *tap_w, *x);

  const auto rot = vision_rotary(grids, merge, hd, vc.rope_theta);
  auto cos = act(be, patches, hd);
  auto sin = act(be, patches, hd);
  be.write(*cos, rot.cos.data(), rot.cos.size() * sizeof(float));
  be.write(*sin, rot.sin.data(), rot.sin.size() * sizeof(float));

  // Images never attend to each other: one attention segment per frame.
  backend::AttentionSpec spec;
  spec.num_heads = spec.num_kv_heads = static_cast<int>(heads);
  spec.head_dim = static_cast<int>(hd);
  spec.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<int64_t> frame_starts{0};
  for (const auto& g : grids)
    for (int64_t f = 0; f < g.t; ++f) frame_starts.push_back(frame_starts.back() + g.h * g.w);

  auto y = act(be, patches, d);
  auto attn = act(be, patches, d);
  for (size_t b = 0; b < w.blocks.size(); ++b) {
    if (cancelled(cancel)) return err("{}", kCancelledMessage);
    const size_t block_mark = be.arena_mark();
    const auto& bw = w.blocks[b];
    be.layer_norm(*x, *bw.norm1_w, *bw.norm1_b, kVisionNormEps, *y);
    auto q = linear(be, y, bw.q);
    auto k = linear(be, y, bw.k);
    auto v = linear(be, y, bw.v);
    be.rope(*q, *cos, *sin, static_cast<int>(hd));
    be.rope(*k, *cos, *sin, static_cast<int>(hd));
    QL_TRY(frame_attention(be, q, k, v, frame_starts, spec, attn, cancel));
    be.linear(*attn, *bw.proj.w, bw.proj.b.get(), *x, true);
    be.layer_norm(*x, *bw.norm2_w, *bw.norm2_b, kVisionNormEps, *y);
    auto h = linear(be, y, bw.fc1);
    auto g = act(be, h->rows(), h->cols());
    be.gelu(*h, backend::GeluKind::kTanh, *g);
    be.linear(*g, *bw.fc2.w, bw.fc2.b.get(), *x, true);
    be.rewind(block_mark);
    if (progress) progress->advance();
    auto it = std::find(ds.begin(), ds.end(), static_cast<int64_t>(b));
    if (it != ds.end()) {
      const size_t k_ds = static_cast<size_t>(it - ds.begin());
      run_merger(be, x, w.deepstack[k_ds], merge * merge, true, *out.deepstack[k_ds]);
    }
  }
  run_merger(be, x, w.merger, merge * merge, false, *out.merged);
  be.rewind(mark);
  return out;
}

}  // namespace ql::model
