// The Qwen3-VL-MoE forward (docs/model.md §3, §7-§10), in the order the data flows:
// vision tower -> token embeddings with image rows replaced -> 3-D positions
// -> decoder layers (attention with q/k norm and M-RoPE over the KV cache, MoE
// or dense MLP, DeepStack after the first layers) -> final norm -> lm_head.
//
// Every step has an input phase (ids, rotary rows, KV write rows, sequence
// spans, sampling inputs written into small tensors) and then only ops, so a
// decode step is the same op sequence every time and the backend can record
// and replay it (docs/backend-contract.md).
#include "core/model/qwen3vl_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include <spdlog/spdlog.h>

#include "core/model/bnb_validation.h"
#include "core/model/decoder_layers.h"
#include "core/model/model_weights.h"
#include "core/model/rotary.h"
#include "core/model/tensor_schema.h"
#include "core/model/tensor_validation.h"
#include "core/model/vision_tower.h"

namespace ql::model {
namespace {

using backend::TensorPtr;
constexpr backend::DType kI32 = backend::DType::kI32;

TensorPtr upload_i32(backend::Backend& be, const std::vector<int32_t>& v, int64_t cols = 1) {
  auto t = be.new_tensor(kI32, static_cast<int64_t>(v.size()) / cols, cols);
  be.write(*t, v.data(), v.size() * sizeof(int32_t));
  return t;
}

TensorPtr upload_act(backend::Backend& be, const std::vector<float>& v, int64_t rows, int64_t cols) {
  auto t = be.new_tensor(be.activation_dtype(), rows, cols);
  be.write(*t, v.data(), v.size() * sizeof(float));
  return t;
}

// One cache's seen mask rebuilt from its whole token history (once per
// request: later steps only mark the tokens they sample).
void reset_seen(backend::Backend& be, backend::Tensor& seen, const std::vector<int32_t>& tokens) {
  be.zero(seen);
  if (tokens.empty()) return;
  auto ids = upload_i32(be, tokens);
  be.mark_seen(*ids, seen);
}

uint64_t next_cache_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

// The recording key of a cache's decode step, with or without the sampling.
uint64_t decode_key(uint64_t cache_id, bool sampling) { return cache_id * 2 + (sampling ? 1 : 0); }

// Issues a step's ops recorded under `key` (backend.h, "recording"); *recorded
// says whether the recording was made. Where the backend cannot record it,
// warns once, forgets the key, sets *failed (later steps of that kind run
// directly) and issues the ops again without recording. With *failed set it
// only issues them.
template <typename Issue>
auto issue_recorded(backend::Backend& be, uint64_t key, const char* what, bool* failed, bool* recorded, Issue&& issue)
    -> decltype(issue()) {
  *recorded = false;
  if (*failed) return issue();
  be.begin_recording(key);
  auto out = issue();
  Status rec = be.end_recording(key);
  if (rec.ok()) {
    *recorded = true;
    return out;
  }
  spdlog::warn("{} not recorded ({}); running without replay", what, rec.message());
  be.forget_recording(key);
  *failed = true;
  (void)be.take_error();
  return issue();
}

// The recording key of a batch step: an FNV-1a hash of its caches' ids in
// order, with the top bit set (decode keys are small). The recording keeps
// the ids, so a collision is seen, never replayed.
uint64_t batch_key(const std::vector<uint64_t>& members) {
  uint64_t h = 1469598103934665603ull;
  for (uint64_t id : members)
    for (int b = 0; b < 8; ++b) {
      h ^= (id >> (8 * b)) & 0xffu;
      h *= 1099511628211ull;
    }
  return h | (1ull << 63);
}

}  // namespace

// ---- KvCache ------------------------------------------------------------------

KvCache::~KvCache() {
  if (!backend_) return;
  for (const auto& r : recorded_) backend_->forget_recording(r.first);
}

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
  for (const auto& t : k) b += t->bytes();
  for (const auto& t : v) b += t->bytes();
  return b / static_cast<size_t>(pool_size_);
}

// ---- Qwen3VLModel -----------------------------------------------------------------

Qwen3VLModel::Qwen3VLModel(const ModelConfig& config, backend::Backend& backend) : config_(config), backend_(backend) {}
Qwen3VLModel::~Qwen3VLModel() {
  for (const auto& r : batch_recorded_) backend_.forget_recording(r.first);
}

size_t Qwen3VLModel::weight_bytes() const { return weights_ ? weights_->bytes : 0; }
quant::Dense16Report Qwen3VLModel::fp16_losses() const {
  return weights_ ? weights_->fp16_losses : quant::Dense16Report{};
}

Result<std::unique_ptr<Qwen3VLModel>> Qwen3VLModel::load_from(const ModelConfig& config, const WeightSource& source,
                                                              const Checkpoint* checkpoint, backend::Backend& backend,
                                                              const LoadProgress& progress,
                                                              const std::atomic<bool>* cancel,
                                                              const WeightLoadOptions& weight_options) {
  std::optional<ValidationReport> report;
  if (checkpoint) {
    if (progress) progress(0.0, "checking tensors");
    report = validate_model_checkpoint(*checkpoint, config);
    if (!report->ok()) {
      std::string msg = report->summary();
      const size_t shown = std::min<size_t>(report->problems.size(), 5);
      for (size_t i = 0; i < shown; ++i) msg += "; " + report->problems[i];
      if (report->problems.size() > shown) msg += fmt::format("; and {} more", report->problems.size() - shown);
      return err("{}", msg);
    }
  }
  std::unique_ptr<Qwen3VLModel> model(new Qwen3VLModel(config, backend));
  WeightProgress wp;
  if (progress) {
    const char* stage = backend.quantizes_on_device() ? "loading weights (quantizing on the GPU)" : "loading weights";
    wp = [&progress, stage](double f) { progress(f, stage); };
  }
  auto weights = load_model_weights(config, source, checkpoint, report ? &*report : nullptr, backend, weight_options,
                                    wp, cancel);
  if (!weights.ok()) return weights.error();
  model->weights_ = std::make_unique<ModelWeights>(std::move(weights).value());
  if (progress) progress(1.0, "ready");
  return model;
}

Result<std::unique_ptr<Qwen3VLModel>> Qwen3VLModel::load(const ModelConfig& config, const Checkpoint& checkpoint,
                                                         backend::Backend& backend, const LoadProgress& progress,
                                                         const std::atomic<bool>* cancel,
                                                         const WeightLoadOptions& weight_options) {
  auto source = checkpoint_source(checkpoint);
  return load_from(config, *source, &checkpoint, backend, progress, cancel, weight_options);
}

Result<std::unique_ptr<Qwen3VLModel>> Qwen3VLModel::load_synthetic(const ModelConfig& config, uint64_t seed,
                                                                   backend::Backend& backend,
                                                                   const LoadProgress& progress,
                                                                   const std::atomic<bool>* cancel,
                                                                   const WeightLoadOptions& weight_options) {
  auto source = synthetic_source(config, seed, fmt::format("synthetic (seed {})", seed));
  return load_from(config, *source, nullptr, backend, progress, cancel, weight_options);
}

Result<std::unique_ptr<KvCache>> Qwen3VLModel::new_cache(int64_t capacity) const {
  QL_ASSIGN_OR_RETURN(auto caches, new_caches(1, capacity));
  return std::move(caches.front());
}

Result<std::vector<std::unique_ptr<KvCache>>> Qwen3VLModel::new_caches(int64_t count, int64_t capacity) const {
  if (count < 1) return err("a pool of {} sequences is invalid (expected >= 1)", count);
  const int64_t width = config_.text.num_kv_heads * config_.text.head_dim;
  const backend::DType kv = backend_.kv_cache_dtype();
  std::vector<backend::TensorPtr> k, v;
  for (int64_t l = 0; l < config_.text.num_layers; ++l) {
    k.push_back(backend_.new_persistent_tensor(kv, count * capacity, width));
    v.push_back(backend_.new_persistent_tensor(kv, count * capacity, width));
  }
  auto seen = backend_.new_persistent_tensor(kI32, count, config_.text.vocab_size);
  if (Status st = backend_.take_error(); !st.ok()) {
    const double gib = static_cast<double>(2 * config_.text.num_layers * count * capacity * width *
                                           static_cast<int64_t>(backend::dtype_bytes(kv))) /
                       (1024.0 * 1024.0 * 1024.0);
    return err("the KV cache for {} x {} tokens ({:.2f} GiB) does not fit: {}", count, capacity, gib, st.message());
  }
  backend_.zero(*seen);
  std::vector<std::unique_ptr<KvCache>> out;
  for (int64_t i = 0; i < count; ++i) {
    std::unique_ptr<KvCache> c(new KvCache());
    c->backend_ = &backend_;
    c->id_ = next_cache_id();
    c->capacity_ = capacity;
    c->first_row_ = i * capacity;
    c->pool_size_ = count;
    c->merge_ = config_.vision.spatial_merge_size * config_.vision.spatial_merge_size;
    c->k = k;
    c->v = v;
    c->seen = count == 1 ? seen : backend_.view(seen, i, 1, config_.text.vocab_size);
    out.push_back(std::move(c));
  }
  return out;
}

Result<ForwardResult> Qwen3VLModel::prefill(KvCache& cache, std::span<const int32_t> ids,
                                            std::span<const vision::PreprocessedImage> images,
                                            std::span<const int64_t> logit_rows,
                                            const std::atomic<bool>* cancel,
                                            const PrefillProgressFn& progress) const {
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
  // Positions of the whole sequence (earlier images included), then this call's tail.
  std::vector<int32_t> all(cache.tokens().begin(), cache.tokens().end());
  all.insert(all.end(), ids.begin(), ids.end());
  std::vector<ImageGrid> grids = cache.grids();
  for (const auto& im : images) grids.push_back({im.grid_t, im.grid_h, im.grid_w});
  const int64_t merge = config_.vision.spatial_merge_size;
  auto pos = compute_positions(all, static_cast<int32_t>(config_.image_token_id), grids, merge);
  if (!pos.ok()) return pos.error();

  std::vector<int32_t> image_rows;  // prompt-relative rows of the image tokens
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] == config_.image_token_id) image_rows.push_back(static_cast<int32_t>(i));
  if (images.empty() && !image_rows.empty())
    return err("the prompt has {} image tokens but no image", image_rows.size());

  backend::Backend& be = backend_;
  be.begin_step();
  // The step's outputs first (they outlive every chunk): the logits rows.
  ForwardResult r;
  std::vector<int32_t> picked;  // prompt-relative rows whose logits are returned
  for (int64_t row : logit_rows) {
    if (row >= past && row < past + n - 1) {
      picked.push_back(static_cast<int32_t>(row - past));
      r.rows.push_back(row);
    }
  }
  picked.push_back(static_cast<int32_t>(n - 1));
  r.rows.push_back(past + n - 1);
  r.logits = be.new_tensor(be.activation_dtype(), static_cast<int64_t>(picked.size()), tc.vocab_size);

  // Progress units: the vision tower's blocks (once for all images), then
  // each chunk's decoder layers.
  const int64_t chunks = (n + kPrefillChunkTokens - 1) / kPrefillChunkTokens;
  StepProgress steps(progress, (images.empty() ? 0 : static_cast<int64_t>(weights_->blocks.size())) +
                                   chunks * static_cast<int64_t>(weights_->layers.size()));

  // The vision tower once for every image; its outputs stay through the chunks.
  VisionOutput vis;
  if (!images.empty()) {
    auto out = run_vision_tower(be, *weights_, config_.vision, images, cancel, &steps);
    if (!out.ok()) {
      (void)be.take_error();
      return out.error();
    }
    vis = std::move(out).value();
    if (vis.merged->rows() != static_cast<int64_t>(image_rows.size())) {
      (void)be.take_error();
      return err("the prompt has {} image tokens but its images give {}", image_rows.size(), vis.merged->rows());
    }
  }

  const int64_t hd = tc.head_dim;
  size_t next_pick = 0;
  size_t next_image_row = 0;
  for (int64_t first = 0; first < n; first += kPrefillChunkTokens) {
    const int64_t count = std::min(kPrefillChunkTokens, n - first);
    const size_t chunk_mark = be.arena_mark();
    // Input phase of the chunk.
    StepTensors st;
    st.ids = upload_i32(be, std::vector<int32_t>(ids.begin() + first, ids.begin() + first + count));
    const auto rot = text_rotary(pos->ids, past + first, count, hd, tc.rope_theta, tc.mrope_section);
    st.cos = upload_act(be, rot.cos, count, hd);
    st.sin = upload_act(be, rot.sin, count, hd);
    std::vector<int32_t> write_rows(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) write_rows[i] = static_cast<int32_t>(cache.first_row_ + past + first + i);
    st.write_rows = upload_i32(be, write_rows);
    const backend::SequenceSpan span{0, static_cast<int32_t>(count), static_cast<int32_t>(cache.first_row_),
                                     static_cast<int32_t>(past + first + count)};
    st.spans = upload_i32(be, {span.q_start, span.q_count, span.key_start, span.key_count}, backend::kSequenceSpanWords);
    // This chunk's image tokens: chunk-relative rows, and which vision rows they take.
    std::vector<int32_t> chunk_image_rows;
    const size_t image_row_begin = next_image_row;
    while (next_image_row < image_rows.size() && image_rows[next_image_row] < first + count)
      chunk_image_rows.push_back(image_rows[next_image_row++] - static_cast<int32_t>(first));
    std::vector<int32_t> chunk_picks;
    const size_t pick_begin = next_pick;
    while (next_pick < picked.size() && picked[next_pick] < first + count)
      chunk_picks.push_back(picked[next_pick++] - static_cast<int32_t>(first));

    DecoderInputs in;
    in.steps = &st;
    in.hidden = be.new_tensor(be.activation_dtype(), count, tc.hidden_size);
    be.embed(*st.ids, *weights_->embed_tokens, *in.hidden);
    if (!chunk_image_rows.empty()) {
      in.image_rows = upload_i32(be, chunk_image_rows);
      const auto rows = static_cast<int64_t>(chunk_image_rows.size());
      const auto first_vis = static_cast<int64_t>(image_row_begin);
      auto merged = be.view(vis.merged, first_vis, rows, vis.merged->cols());
      be.scatter_rows(*merged, *in.image_rows, *in.hidden);
      for (const auto& ds : vis.deepstack) in.deepstack.push_back(be.view(ds, first_vis, rows, ds->cols()));
    }
    Status ran = run_decoder_layers(be, *weights_, tc, cache.k, cache.v, in, cancel, &steps);
    if (ran.ok() && !chunk_picks.empty()) {
      auto out = be.view(r.logits, static_cast<int64_t>(pick_begin), static_cast<int64_t>(chunk_picks.size()),
                         tc.vocab_size);
      auto rows = upload_i32(be, chunk_picks);
      final_logits(be, *weights_, tc, *in.hidden, rows.get(), *out);
    }
    if (Status e = be.take_error(); !e.ok()) return e.error();
    if (!ran.ok()) return ran.error();
    be.rewind(chunk_mark);
  }
  for (int a = 0; a < 3; ++a) {
    r.positions.axis[a].assign(pos->ids.axis[a].begin() + past, pos->ids.axis[a].end());
  }
  reset_seen(be, *cache.seen, all);
  if (Status e = be.take_error(); !e.ok()) return e.error();
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

Result<int32_t> Qwen3VLModel::sample(KvCache& cache, const ForwardResult& forward, const SamplingStep& step) const {
  backend::Backend& be = backend_;
  const auto last = static_cast<int64_t>(forward.rows.size()) - 1;
  auto row = be.view(forward.logits, last, 1, forward.logits->cols());
  auto inputs = be.new_tensor(kI32, 1, backend::kSamplingInputsWords);
  const backend::SamplingInputs s = backend::sampling_inputs(step.params, step.uniform);
  be.write(*inputs, &s, sizeof s);
  auto token = be.new_tensor(kI32, 1, 1);
  be.sample(*row, *inputs, cache.seen.get(), *token);
  int32_t id = 0;
  be.read(*token, &id, sizeof id);
  QL_TRY(be.take_error());
  return id;
}

Result<Qwen3VLModel::DecodeOutputs> Qwen3VLModel::decode_step(KvCache& cache, int32_t token,
                                                              const SamplingStep* step) const {
  const TextConfig& tc = config_.text;
  const int64_t past = cache.length();
  if (past + 1 > cache.capacity()) return err("context full: the context of {} tokens is used up", cache.capacity());
  if (token < 0 || token >= tc.vocab_size) return err("token id {} is outside the vocabulary of {}", token, tc.vocab_size);
  backend::Backend& be = backend_;
  be.begin_step();
  // Input phase: the same tensors in the same order every step, so their
  // addresses repeat and a recorded step reads this step's values.
  StepTensors st;
  st.ids = upload_i32(be, {token});
  // A generated token sits at its sequence index plus rope_delta on every axis (docs/model.md §8).
  const int64_t position = past + cache.rope_delta();
  const auto rot = text_rotary_1d(position, tc.head_dim, tc.rope_theta, tc.mrope_section);
  st.cos = upload_act(be, rot.cos, 1, tc.head_dim);
  st.sin = upload_act(be, rot.sin, 1, tc.head_dim);
  st.write_rows = upload_i32(be, {static_cast<int32_t>(cache.first_row_ + past)});
  st.spans = upload_i32(be, {0, 1, static_cast<int32_t>(cache.first_row_), static_cast<int32_t>(past + 1)},
                        backend::kSequenceSpanWords);
  TensorPtr inputs;
  if (step) {
    inputs = be.new_tensor(kI32, 1, backend::kSamplingInputsWords);
    const backend::SamplingInputs s = backend::sampling_inputs(step->params, step->uniform);
    be.write(*inputs, &s, sizeof s);
  }

  const uint64_t key = decode_key(cache.id_, step != nullptr);
  DecodeOutputs out;
  auto recorded = cache.recorded_.find(key);
  if (!cache.recording_failed_ && recorded != cache.recorded_.end() && be.replay(key)) {
    out.logits = recorded->second.logits;
    out.token = recorded->second.token;
  } else {
    // The ops of the step, recorded (where the backend records) as they run.
    auto issue = [&]() {
      DecoderInputs in;
      in.steps = &st;
      in.hidden = be.new_tensor(be.activation_dtype(), 1, tc.hidden_size);
      be.embed(*st.ids, *weights_->embed_tokens, *in.hidden);
      be.mark_seen(*st.ids, *cache.seen);
      Status ran = run_decoder_layers(be, *weights_, tc, cache.k, cache.v, in, nullptr);
      DecodeOutputs o;
      o.logits = be.new_tensor(be.activation_dtype(), 1, tc.vocab_size);
      final_logits(be, *weights_, tc, *in.hidden, nullptr, *o.logits);
      if (step) {
        o.token = be.new_tensor(kI32, 1, 1);
        be.sample(*o.logits, *inputs, cache.seen.get(), *o.token);
      }
      (void)ran;  // decode polls no cancel flag: it cannot fail by itself
      return o;
    };
    // Not recordable here: this and every later step of the cache run directly.
    bool recorded_now = false;
    out = issue_recorded(be, key, "decode step", &cache.recording_failed_, &recorded_now, issue);
    if (recorded_now) cache.recorded_[key] = {out.logits, out.token};
    else cache.recorded_.erase(key);
  }
  QL_TRY(be.take_error());
  cache.tokens_.push_back(token);
  return out;
}

Result<ForwardResult> Qwen3VLModel::decode(KvCache& cache, int32_t token) const {
  const int64_t past = cache.length();
  QL_ASSIGN_OR_RETURN(DecodeOutputs out, decode_step(cache, token, nullptr));
  ForwardResult r;
  r.logits = out.logits;
  r.rows.push_back(past);
  const int64_t position = past + cache.rope_delta();
  for (auto& a : r.positions.axis) a.push_back(position);
  return r;
}

Result<int32_t> Qwen3VLModel::decode_and_sample(KvCache& cache, int32_t token, const SamplingStep& step) const {
  QL_ASSIGN_OR_RETURN(DecodeOutputs out, decode_step(cache, token, &step));
  int32_t id = 0;
  backend_.read(*out.token, &id, sizeof id);
  QL_TRY(backend_.take_error());
  return id;
}

Result<std::vector<int32_t>> Qwen3VLModel::decode_batch(std::span<KvCache* const> caches,
                                                        std::span<const int32_t> tokens,
                                                        std::span<const SamplingStep> steps) const {
  const TextConfig& tc = config_.text;
  const auto n = static_cast<int64_t>(caches.size());
  if (n == 0 || tokens.size() != caches.size() || steps.size() != caches.size())
    return err("a decode batch needs one token and one sampling step per sequence ({} sequences, {} tokens, {} steps)",
               caches.size(), tokens.size(), steps.size());
  if (n == 1) {
    QL_ASSIGN_OR_RETURN(int32_t t, decode_and_sample(*caches[0], tokens[0], steps[0]));
    return std::vector<int32_t>{t};
  }
  for (int64_t i = 0; i < n; ++i) {
    const KvCache& c = *caches[i];
    if (c.k != caches[0]->k) return err("sequence {} of a decode batch is not in the first one's pool", i);
    for (int64_t j = 0; j < i; ++j)
      if (caches[j] == caches[i]) return err("sequence {} appears twice in a decode batch", i);
    if (c.length() + 1 > c.capacity())
      return err("context full: sequence {} has used up its context of {} tokens", i, c.capacity());
    if (tokens[i] < 0 || tokens[i] >= tc.vocab_size)
      return err("token id {} (sequence {}) is outside the vocabulary of {}", tokens[i], i, tc.vocab_size);
  }
  backend::Backend& be = backend_;
  be.begin_step();
  // Input phase: row i is sequence i.
  StepTensors st;
  st.ids = upload_i32(be, std::vector<int32_t>(tokens.begin(), tokens.end()));
  std::vector<float> cos, sin;
  std::vector<int32_t> write_rows, spans;
  std::vector<backend::SamplingInputs> sampling;
  for (int64_t i = 0; i < n; ++i) {
    const KvCache& c = *caches[i];
    const auto rot = text_rotary_1d(c.length() + c.rope_delta(), tc.head_dim, tc.rope_theta, tc.mrope_section);
    cos.insert(cos.end(), rot.cos.begin(), rot.cos.end());
    sin.insert(sin.end(), rot.sin.begin(), rot.sin.end());
    write_rows.push_back(static_cast<int32_t>(c.first_row_ + c.length()));
    spans.insert(spans.end(), {static_cast<int32_t>(i), 1, static_cast<int32_t>(c.first_row_),
                               static_cast<int32_t>(c.length() + 1)});
    sampling.push_back(backend::sampling_inputs(steps[i].params, steps[i].uniform));
  }
  st.cos = upload_act(be, cos, n, tc.head_dim);
  st.sin = upload_act(be, sin, n, tc.head_dim);
  st.write_rows = upload_i32(be, write_rows);
  st.spans = upload_i32(be, spans, backend::kSequenceSpanWords);
  auto inputs = be.new_tensor(kI32, n, backend::kSamplingInputsWords);
  be.write(*inputs, sampling.data(), sampling.size() * sizeof(backend::SamplingInputs));

  // The ops of the step, recorded (where the backend records) as they run.
  auto issue = [&]() {
    DecoderInputs in;
    in.steps = &st;
    in.hidden = be.new_tensor(be.activation_dtype(), n, tc.hidden_size);
    be.embed(*st.ids, *weights_->embed_tokens, *in.hidden);
    for (int64_t i = 0; i < n; ++i) be.mark_seen(*be.view(st.ids, i, 1, 1), *caches[i]->seen);
    (void)run_decoder_layers(be, *weights_, tc, caches[0]->k, caches[0]->v, in, nullptr);
    DecodeOutputs o;
    o.logits = be.new_tensor(be.activation_dtype(), n, tc.vocab_size);
    final_logits(be, *weights_, tc, *in.hidden, nullptr, *o.logits);
    o.token = be.new_tensor(kI32, n, 1);
    for (int64_t i = 0; i < n; ++i)
      be.sample(*be.view(o.logits, i, 1, tc.vocab_size), *be.view(inputs, i, 1, backend::kSamplingInputsWords),
                caches[i]->seen.get(), *be.view(o.token, i, 1, 1));
    return o;
  };
  std::vector<uint64_t> members;
  for (const KvCache* c : caches) members.push_back(c->id_);
  const uint64_t key = batch_key(members);
  auto recorded = batch_recorded_.find(key);
  const bool same = recorded != batch_recorded_.end() && recorded->second.members == members;
  DecodeOutputs done;
  if (!batch_recording_failed_ && same && be.replay(key)) {
    done = recorded->second.outputs;
    recorded->second.last_used = ++batch_clock_;
  } else {
    bool recorded_now = false;
    done = issue_recorded(be, key, "batch decode step", &batch_recording_failed_, &recorded_now, issue);
    if (!recorded_now) {
      batch_recorded_.erase(key);
    } else {
      batch_recorded_[key] = {members, done, ++batch_clock_};
      // Keep the most recent memberships: a batch that changed is unlikely to come back.
      if (batch_recorded_.size() > kMaxBatchRecordings) {
        const auto oldest =
            std::min_element(batch_recorded_.begin(), batch_recorded_.end(),
                             [](const auto& a, const auto& b) { return a.second.last_used < b.second.last_used; });
        be.forget_recording(oldest->first);
        batch_recorded_.erase(oldest);
      }
    }
  }
  const TensorPtr picked = done.token;
  std::vector<int32_t> out(static_cast<size_t>(n));
  be.read(*picked, out.data(), out.size() * sizeof(int32_t));
  QL_TRY(be.take_error());
  for (int64_t i = 0; i < n; ++i) caches[i]->tokens_.push_back(tokens[i]);
  return out;
}

}  // namespace ql::model
