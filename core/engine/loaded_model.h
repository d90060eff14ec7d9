#pragma once
// Everything the engine holds for one model folder, and loading it. Members
// are declared in dependency order so they are destroyed in reverse: the KV
// cache and the model before the backend that owns their memory, the backend
// before the mmapped checkpoint its weights may point into.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/backend_registry.h"
#include "core/common/result.h"
#include "core/model/checkpoint.h"
#include "core/model/generation_config.h"
#include "core/model/model_config.h"
#include "core/model/qwen3vl_model.h"
#include "core/quant/dense16.h"
#include "core/text/tokenizer.h"
#include "core/vision/preprocess_config.h"

namespace ql::engine {

// Makes the backend a model runs on, instead of LoadOptions::backend (tests).
using BackendFactory = std::function<Result<std::unique_ptr<backend::Backend>>(int threads)>;

struct LoadOptions {
  int threads = 0;             // CPU backend threads; 0 = every core
  int64_t context_tokens = 0;  // KV cache size; 0 = kDefaultContextTokens (capped by the config)
  // Sequences decoded together (1..kMaxParallel): each has its own KV cache of
  // context_tokens, all in one pool (the memory plan counts every one).
  int parallel = 1;
  // auto: the CUDA backend when one is registered and a usable GPU is there,
  // else the CPU (ModelInfo::backend_note says why).
  backend::BackendChoice backend = backend::BackendChoice::kAuto;
  BackendFactory make_backend; // set: used instead of `backend`
  // Precision: a preset ("bf16", "fp16", "int8", "nf4", "nf4-mixed", "auto") or
  // a per-component list (core/quant/precision_policy.h). Empty = the
  // checkpoint's dtype as stored: "bf16" for the published checkpoints
  // (engine/load_precision.h).
  std::string precision;
  // Memory budget (the GPU's memory, GiB) for "auto" and for refusing, before
  // any weight is read, a plan that does not fit; 0 = on the GPU, its free
  // memory (plus what the model loaded before holds); on the CPU, no check.
  double memory_budget_gib = 0;
  // Bytes the engine gives back when this load succeeds (the previous
  // model's), counted as free for the default budget. Set by Engine::load.
  size_t reclaimable_bytes = 0;
};

// A description of the loaded model, safe to copy to other threads.
struct ModelInfo {
  std::string dir;
  model::ModelConfig config;
  model::GenerationConfig generation;
  vision::PreprocessConfig preprocess;
  std::string backend_name;   // "cuda", "cpu"
  std::string backend_note;   // why auto chose the CPU (empty otherwise)
  std::string device;         // the device it runs on ("NVIDIA H100 80GB HBM3", "CPU (16 threads)")
  int64_t context_tokens = 0;
  int parallel = 1;  // KV caches (sequences decoded together)
  bool has_tokenizer = false;
  std::string tokenizer_note;  // its path, or why there is none
  size_t weight_bytes = 0;      // stored bytes of every weight in its format (Weight::stored_bytes)
  std::string precision;        // canonical policy string of what was loaded ("auto" resolved)
  quant::Dense16Report fp16_losses;  // what converting weights to fp16 lost (zero when none were)
};

inline constexpr int kMaxParallel = 16;

// One sequence's KV cache and what its reuse needs.
struct SequenceSlot {
  std::unique_ptr<model::KvCache> cache;
  std::vector<uint64_t> image_keys;  // image_fingerprint of each image in `cache`, in order
};

struct LoadedModel {
  ModelInfo info;
  std::optional<text::Tokenizer> tokenizer;
  std::unique_ptr<model::Checkpoint> checkpoint;
  std::unique_ptr<backend::Backend> backend;
  std::unique_ptr<model::Qwen3VLModel> model;
  // LoadOptions::parallel sequence slots in one KV pool; Engine::generate runs in
  // slot 0, Engine::run_sequences in all of them.
  std::vector<SequenceSlot> sequences;
};

// Reads config.json, generation_config.json, preprocessor_config.json, finds
// the tokenizer, opens and validates the weights, hands them to a new backend
// and allocates the KV cache. `cancel` is polled between steps and tensors.
// `dir` may name a synthetic checkpoint, synthetic:NAME (model/synthetic_models.h).
Result<std::unique_ptr<LoadedModel>> load_model_folder(const std::string& dir, const LoadOptions& options,
                                                       const model::LoadProgress& progress,
                                                       const std::atomic<bool>* cancel);

}  // namespace ql::engine
