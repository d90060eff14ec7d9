#pragma once
// Qwen3-VL-MoE, written once against the Backend (docs/model.md §3): vision tower,
// embedding merge, 3-D positions, the MoE text decoder with DeepStack, final
// norm and lm_head. The forward lives in qwen3vl_model.cpp; its pieces
// (vision_tower, decoder_layers, positions, rotary, weights) sit beside it.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/common/result.h"
#include "core/model/step_progress.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"
#include "core/model/positions.h"
#include "core/model/weight_load_options.h"
#include "core/model/weight_source.h"
#include "core/quant/dense16.h"
#include "core/vision/preprocessed_image.h"

namespace ql::model {

struct ModelWeights;  // model_weights.h

inline constexpr const char* kCancelledMessage = "cancelled";

// Long prompts run in chunks of this many tokens (docs/backend-contract.md,
// "Memory"): the step arena then holds one chunk's activations, which is what
// the memory planner counts (quant::PlanRequest::prefill_chunk_tokens).
inline constexpr int64_t kPrefillChunkTokens = 2048;

// Progress while loading: fraction in [0, 1] and a short stage name.
using LoadProgress = std::function<void(double fraction, const std::string& stage)>;

// One sequence's state: its KV cache (per layer, post-RoPE K and V of every
// token so far, in the backend's KV dtype), the seen-token mask its sampling
// penalties read, and what the positions of later tokens depend on. Owned by
// the engine, indexed by sequence, so batching later needs no copy.
class KvCache {
 public:
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int64_t capacity() const { return capacity_; }
  int64_t length() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const std::vector<ImageGrid>& grids() const { return grids_; }
  int64_t rope_delta() const { return rope_delta_; }
  // Forgets everything after the first `n` tokens (n must not cut an image).
  // The next call must be a prefill: it recomputes rope_delta.
  Status truncate(int64_t n);
  // Bytes of this sequence's K and V rows (what the memory planner's KV figure
  // counts per sequence).
  size_t bytes() const;
  // Where the sequence's rows start in the K and V tensors it shares with the
  // other sequences of its pool (Qwen3VLModel::new_caches); 0 alone.
  int64_t first_row() const { return first_row_; }

 private:
  friend class Qwen3VLModel;
  KvCache() = default;
  backend::Backend* backend_ = nullptr;  // for forgetting this cache's recordings
  uint64_t id_ = 0;                       // unique per cache: the key of its recorded steps
  int64_t capacity_ = 0;
  int64_t first_row_ = 0;   // this sequence's rows: [first_row_, first_row_ + capacity_)
  int64_t pool_size_ = 1;   // sequences sharing k and v
  std::vector<backend::TensorPtr> k, v;  // per layer [pool_size * capacity, kv_heads * head_dim], shared
  backend::TensorPtr seen;               // I32 [1, vocab] (a row of the pool's mask)
  std::vector<int32_t> tokens_;
  std::vector<ImageGrid> grids_;          // of every image in tokens_, in order
  std::vector<int64_t> image_token_ends_; // index one past each image's last pad token
  int64_t merge_ = 4;                     // patches per image token (spatial_merge_size^2)
  int64_t rope_delta_ = 0;
  // Outputs of each recorded decode step, by recording key: valid while the
  // recording is (the backend replays into the same addresses).
  struct RecordedOutputs {
    backend::TensorPtr logits, token;
  };
  std::map<uint64_t, RecordedOutputs> recorded_;
  bool recording_failed_ = false;  // a step could not be recorded: run every step directly
};

// What a forward hands back: logits rows (on the backend, valid until the
// next forward) and, for prefill, the 3-D positions it used.
struct ForwardResult {
  backend::TensorPtr logits;          // [rows, vocab]
  std::vector<int64_t> rows;          // which sequence rows (absolute) those are
  PositionIds positions;              // of the tokens just processed
};

// How to pick a token on the backend: the settings and this step's draw.
struct SamplingStep {
  backend::SamplingParams params;
  double uniform = 0.0;  // in [0, 1)
};

class Qwen3VLModel {
 public:
  ~Qwen3VLModel();
  // Checks every tensor against the architecture first (tensor_validation),
  // then hands the weights to the backend one by one, each with the format
  // `weights.policy` gives it. Cancellation is polled between tensors; a
  // cancelled load returns an error and leaves nothing behind.
  static Result<std::unique_ptr<Qwen3VLModel>> load(const ModelConfig& config, const Checkpoint& checkpoint,
                                                    backend::Backend& backend, const LoadProgress& progress = {},
                                                    const std::atomic<bool>* cancel = nullptr,
                                                    const WeightLoadOptions& weights = {});
  // A synthetic checkpoint (weight_source.h): the same loading path, with
  // values the backend generates from the tensors' seeds.
  static Result<std::unique_ptr<Qwen3VLModel>> load_synthetic(const ModelConfig& config, uint64_t seed,
                                                              backend::Backend& backend,
                                                              const LoadProgress& progress = {},
                                                              const std::atomic<bool>* cancel = nullptr,
                                                              const WeightLoadOptions& weights = {});

  const ModelConfig& config() const { return config_; }
  backend::Backend& backend() const { return backend_; }
  // Stored bytes of every weight in its format (Weight::stored_bytes).
  size_t weight_bytes() const;
  // What converting weights to fp16 lost (all zero when none were).
  quant::Dense16Report fp16_losses() const;

  // Errors when the backend cannot hold the cache (its message has the bytes).
  Result<std::unique_ptr<KvCache>> new_cache(int64_t capacity) const;
  // `count` sequences of `capacity` tokens each in one pool: per layer one K
  // and one V tensor holding every sequence's rows, so that decode_batch runs
  // them in one forward (the attention reads each sequence's key range).
  Result<std::vector<std::unique_ptr<KvCache>>> new_caches(int64_t count, int64_t capacity) const;

  // Appends `ids` (which carry, for each image in `images`, vision_start +
  // image_pad x its token count + vision_end) to the sequence and runs them,
  // in chunks of kPrefillChunkTokens. Returns logits for the absolute rows in
  // `logit_rows` that fall in this call plus, always, the last row. Errors
  // name the image whose token count does not match, or say the context is
  // full. `cancel` is polled between layers and vision blocks; a cancelled or
  // failed prefill leaves the cache as it was and returns an error (message
  // kCancelledMessage when cancelled). `progress`, when given, hears how far
  // the prefill has come (step_progress.h).
  Result<ForwardResult> prefill(KvCache& cache, std::span<const int32_t> ids,
                                std::span<const vision::PreprocessedImage> images,
                                std::span<const int64_t> logit_rows = {},
                                const std::atomic<bool>* cancel = nullptr,
                                const PrefillProgressFn& progress = {}) const;

  // Picks the next token from the last row of `forward` (the step that made
  // it must be the latest), on the backend; only the id comes back.
  Result<int32_t> sample(KvCache& cache, const ForwardResult& forward, const SamplingStep& step) const;

  // One generated token: logits [1, vocab] of the next position. The step is
  // recorded once per cache and replayed after (backend.h, "recording").
  Result<ForwardResult> decode(KvCache& cache, int32_t token) const;
  // The same step with the pick of the next token in it: returns that token.
  Result<int32_t> decode_and_sample(KvCache& cache, int32_t token, const SamplingStep& step) const;
  // One generated token for each of several sequences of one pool, in one
  // forward: caches[i] runs tokens[i] and picks its next token with steps[i].
  // Each row is computed as it would be alone (the backends' products treat
  // decode rows independently), so answers do not depend on the batch.
  // One sequence is decode_and_sample (recorded and replayed). A batch is
  // recorded once per membership (the same caches in the same order: the
  // step's mark_seen and sample ops name each cache's seen-token row) and
  // replayed while it lasts; the last kMaxBatchRecordings are kept.
  Result<std::vector<int32_t>> decode_batch(std::span<KvCache* const> caches, std::span<const int32_t> tokens,
                                            std::span<const SamplingStep> steps) const;

 private:
  Qwen3VLModel(const ModelConfig& config, backend::Backend& backend);
  struct DecodeOutputs {
    backend::TensorPtr logits, token;
  };
  Result<DecodeOutputs> decode_step(KvCache& cache, int32_t token, const SamplingStep* step) const;
  // A recorded batch step: which caches, in order (the key is a hash of
  // their ids), its outputs, and when it was last used.
  struct BatchRecording {
    std::vector<uint64_t> members;
    DecodeOutputs outputs;
    uint64_t last_used = 0;
  };
  static constexpr size_t kMaxBatchRecordings = 8;
  static Result<std::unique_ptr<Qwen3VLModel>> load_from(const ModelConfig& config, const WeightSource& source,
                                                         const Checkpoint* checkpoint, backend::Backend& backend,
                                                         const LoadProgress& progress, const std::atomic<bool>* cancel,
                                                         const WeightLoadOptions& weights);

  const ModelConfig config_;
  backend::Backend& backend_;
  std::unique_ptr<ModelWeights> weights_;
  // Recorded batch steps (decode_batch). The model runs on one thread at a
  // time (the engine's), so these need no lock.
  mutable std::map<uint64_t, BatchRecording> batch_recorded_;
  mutable uint64_t batch_clock_ = 0;
  mutable bool batch_recording_failed_ = false;  // not recordable here: batches run directly
};

}  // namespace ql::model
