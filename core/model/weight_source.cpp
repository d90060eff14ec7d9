#include "core/model/weight_source.h"

#include <cmath>
#include <unordered_map>

#include "core/model/synthetic_values.h"
#include "core/model/tensor_schema.h"

namespace ql::model {
namespace {

class CheckpointSource final : public WeightSource {
 public:
  explicit CheckpointSource(const Checkpoint& c) : ckpt_(c) {
    for (const auto& t : ckpt_.tensors()) total_ += t.nbytes;
  }
  std::optional<SourceTensorRef> find(std::string_view name) const override {
    auto view = ckpt_.find(name);
    if (!view) return std::nullopt;
    SourceTensorRef r;
    r.dtype = view->dtype;
    r.shape.assign(view->shape.begin(), view->shape.end());
    r.data = view->data;
    r.nbytes = view->nbytes;
    return r;
  }
  const std::string& where() const override { return ckpt_.dir(); }
  uint64_t total_bytes() const override { return total_; }

 private:
  const Checkpoint& ckpt_;
  uint64_t total_ = 0;
};

// Uniform values in [-a, a] have variance a^2 / 3: a = sqrt(3 / fan_in)
// gives a matrix product of unit-variance inputs unit-variance outputs, so the
// residual stream neither vanishes nor overflows over 48 layers. Norm weights
// are 1 +- 5%, biases and the position table small, embeddings unit.
backend::SyntheticSource values_for(const TensorSpec& spec, uint64_t model_seed) {
  backend::SyntheticSource s;
  s.seed = synthetic_tensor_seed(model_seed, spec.name.c_str());
  const bool vector = spec.shape.size() == 1;
  const std::string& n = spec.name;
  const bool is_norm = n.find("norm") != std::string::npos;
  if (vector && is_norm && n.find(".bias") == std::string::npos) {
    s.offset = 1.0f;
    s.scale = 0.05f;
  } else if (vector) {
    s.scale = 0.02f;
  } else if (n.find("embed_tokens") != std::string::npos) {
    s.scale = 1.0f;
  } else if (n.find("pos_embed") != std::string::npos) {
    s.scale = 0.1f;
  } else {
    int64_t fan_in = 1;
    if (spec.kind == TensorKind::kExpertGateUp || spec.kind == TensorKind::kExpertDown)
      fan_in = spec.shape[1];  // published [E, in, out]
    else
      for (size_t i = 1; i < spec.shape.size(); ++i) fan_in *= spec.shape[i];
    s.scale = static_cast<float>(std::sqrt(3.0 / static_cast<double>(fan_in)));
  }
  return s;
}

class SyntheticWeights final : public WeightSource {
 public:
  SyntheticWeights(const ModelConfig& config, uint64_t seed, std::string label) : label_(std::move(label)) {
    for (const TensorSpec& spec : build_tensor_schema(config)) {
      if (spec.optional) continue;  // a tied lm_head is the embedding
      SourceTensorRef r;
      r.dtype = DType::kBF16;
      r.shape = spec.shape;
      // Experts in [E, out, in] (no transpose on load): swap the last two.
      if (spec.kind != TensorKind::kPlain) std::swap(r.shape[1], r.shape[2]);
      int64_t numel = 1;
      for (int64_t d : r.shape) numel *= d;
      r.nbytes = static_cast<size_t>(numel) * 2;
      r.synthetic = values_for(spec, seed);
      total_ += r.nbytes;
      tensors_.emplace(spec.name, std::move(r));
    }
  }
  std::optional<SourceTensorRef> find(std::string_view name) const override {
    auto it = tensors_.find(std::string(name));
    if (it == tensors_.end()) return std::nullopt;
    return it->second;
  }
  const std::string& where() const override { return label_; }
  uint64_t total_bytes() const override { return total_; }

 private:
  std::string label_;
  std::unordered_map<std::string, SourceTensorRef> tensors_;
  uint64_t total_ = 0;
};

}  // namespace

std::unique_ptr<WeightSource> checkpoint_source(const Checkpoint& checkpoint) {
  return std::make_unique<CheckpointSource>(checkpoint);
}

std::unique_ptr<WeightSource> synthetic_source(const ModelConfig& config, uint64_t seed, std::string label) {
  return std::make_unique<SyntheticWeights>(config, seed, std::move(label));
}

}  // namespace ql::model
