#include "core/model/model_info.h"

#include <numeric>
#include <unordered_map>

namespace ql::model {

namespace {
int64_t elements(std::span<const int64_t> shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}
}  // namespace

int64_t ParameterCounts::total() const {
  return std::accumulate(by_component.begin(), by_component.end(), other);
}

ParameterCounts count_parameters(const std::vector<TensorSpec>& schema) {
  ParameterCounts c;
  for (const TensorSpec& s : schema)
    if (!s.optional) c.by_component[static_cast<size_t>(s.component)] += elements(s.shape);
  return c;
}

ParameterCounts count_parameters(const Checkpoint& checkpoint, const std::vector<TensorSpec>& schema) {
  std::unordered_map<std::string_view, Component> component_of;
  for (const TensorSpec& s : schema) component_of.emplace(s.name, s.component);
  ParameterCounts c;
  for (const TensorView& t : checkpoint.tensors()) {
    auto it = component_of.find(t.name);
    (it == component_of.end() ? c.other : c.by_component[static_cast<size_t>(it->second)]) += t.numel();
  }
  return c;
}

int64_t text_parameters_per_token(const TextConfig& text, const ParameterCounts& counts) {
  const int64_t routed_experts =
      text.num_experts > 0 ? counts[Component::kExperts] / text.num_experts * text.num_experts_per_tok : 0;
  return counts[Component::kAttention] + counts[Component::kRouter] + counts[Component::kDenseMlp] +
         counts[Component::kTextNorms] + counts[Component::kEmbeddings] + counts[Component::kLmHead] +
         routed_experts;
}

CheckpointContents describe_contents(const Checkpoint& checkpoint) {
  CheckpointContents c;
  c.shard_count = checkpoint.shards().size();
  for (const TensorView& t : checkpoint.tensors()) {
    ++c.tensor_count;
    c.tensor_bytes += t.nbytes;
    ++c.tensors_by_dtype[t.dtype];
  }
  return c;
}

}  // namespace ql::model
