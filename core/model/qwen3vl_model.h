#pragma once
// Qwen3-VL-MoE, written once against the Backend (MODEL.md §3): vision tower,
// embedding merge, 3-D positions, the MoE text decoder with DeepStack, final
// norm and lm_head. The forward lives in qwen3vl_model.cpp; its pieces
// (vision_tower, text_layer, positions, rotary, weights) sit beside it.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/common/result.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"
#include "core/model/positions.h"
#include "core/model/weight_load_options.h"
#include "core/quant/dense16.h"
#include "core/vision/preprocessed_image.h"

namespace ql::model {

struct ModelWeights;  // model_weights.h

inline constexpr const char* kCancelledMessage = "cancelled";

// Progress while loading: fraction in [0, 1] and a short stage name.
using LoadProgress = std::function<void(double fraction, const std::string& stage)>;

// One sequence's state: its KV cache (per layer, post-RoPE K and V of every
// token so far) and what the positions of later tokens depend on. Owned by
// the engine, indexed by sequence, so batching later needs no copy.
class KvCache {
 public:
  int64_t capacity() const { return capacity_; }
  int64_t length() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const std::vector<ImageGrid>& grids() const { return grids_; }
  int64_t rope_delta() const { return rope_delta_; }
  // Forgets everything after the first `n` tokens (n must not cut an image).
  // The next call must be a prefill: it recomputes rope_delta.
  Status truncate(int64_t n);
  size_t bytes() const;

 private:
  friend class Qwen3VLModel;
  int64_t capacity_ = 0;
  std::vector<backend::TensorPtr> k, v;  // per layer [capacity, kv_heads * head_dim]
  std::vector<int32_t> tokens_;
  std::vector<ImageGrid> grids_;          // of every image in tokens_, in order
  std::vector<int64_t> image_token_ends_; // index one past each image's last pad token
  int64_t merge_ = 4;                     // patches per image token (spatial_merge_size^2)
  int64_t rope_delta_ = 0;
};

// What a forward hands back: logits rows (on the backend) and, for prefill,
// the 3-D positions it used.
struct ForwardResult {
  backend::TensorPtr logits;          // [rows, vocab]
  std::vector<int64_t> rows;          // which sequence rows (absolute) those are
  PositionIds positions;              // of the tokens just processed
};

class Qwen3VLModel {
 public:
  ~Qwen3VLModel();
  // Checks every tensor against the architecture first (tensor_validation),
  // then hands the weights to the backend one by one, each quantized to the
  // format `weights.policy` gives it. Cancellation is polled between tensors;
  // a cancelled load returns an error and leaves nothing behind.
  static Result<std::unique_ptr<Qwen3VLModel>> load(const ModelConfig& config, const Checkpoint& checkpoint,
                                                    backend::Backend& backend, const LoadProgress& progress = {},
                                                    const std::atomic<bool>* cancel = nullptr,
                                                    const WeightLoadOptions& weights = {});

  const ModelConfig& config() const { return config_; }
  backend::Backend& backend() const { return backend_; }
  // Stored bytes of every weight in its format (Weight::stored_bytes).
  size_t weight_bytes() const;
  // What converting weights to fp16 lost (all zero when none were).
  quant::Dense16Report fp16_losses() const;

  std::unique_ptr<KvCache> new_cache(int64_t capacity) const;

  // Appends `ids` (which carry, for each image in `images`, vision_start +
  // image_pad x its token count + vision_end) to the sequence and runs them.
  // Returns logits for the absolute rows in `logit_rows` that fall in this chunk
  // plus, always, the last row. Errors name the image whose token count does
  // not match, or say the context is full. `cancel` is polled between layers
  // and vision blocks; a cancelled prefill leaves the cache as it was and
  // returns an error whose message is kCancelledMessage.
  Result<ForwardResult> prefill(KvCache& cache, std::span<const int32_t> ids,
                                std::span<const vision::PreprocessedImage> images,
                                std::span<const int64_t> logit_rows = {},
                                const std::atomic<bool>* cancel = nullptr) const;

  // One generated token: logits [1, vocab] of the next position.
  Result<ForwardResult> decode(KvCache& cache, int32_t token) const;

 private:
  Qwen3VLModel(const ModelConfig& config, backend::Backend& backend);
  const ModelConfig config_;
  backend::Backend& backend_;
  std::unique_ptr<ModelWeights> weights_;
};

}  // namespace ql::model
