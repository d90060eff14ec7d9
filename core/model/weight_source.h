#pragma once
// Where the loader reads tensors from: a checkpoint folder's mmapped shards,
// or a synthetic checkpoint (docs/synthetic-models.md) whose values the
// backend generates from per-tensor seeds, so that a full-size model can be
// loaded, quantized and benchmarked with no file at all.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend/backend.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"

namespace ql::model {

struct SourceTensorRef {
  DType dtype = DType::kBF16;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // null for a synthetic tensor
  size_t nbytes = 0;
  std::optional<backend::SyntheticSource> synthetic;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::optional<SourceTensorRef> find(std::string_view name) const = 0;
  virtual const std::string& where() const = 0;  // the folder, or "synthetic:..." (for messages)
  virtual uint64_t total_bytes() const = 0;      // for progress
};

std::unique_ptr<WeightSource> checkpoint_source(const Checkpoint& checkpoint);

// Every tensor of build_tensor_schema(config) in bf16, experts in the
// transformers-5 orientation ([E, out, in]: no transpose), values scaled so
// activations stay in a normal range (weight_source.cpp says how).
std::unique_ptr<WeightSource> synthetic_source(const ModelConfig& config, uint64_t seed, std::string label);

}  // namespace ql::model
