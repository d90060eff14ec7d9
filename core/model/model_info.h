#pragma once
// Parameter counts per component (docs/model.md §2.2) and what a checkpoint holds:
// tensor count, dtypes, bytes. The figures `quantlens-cli info` prints.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>

#include "core/model/checkpoint.h"
#include "core/model/model_config.h"
#include "core/model/tensor_schema.h"

namespace ql::model {

struct ParameterCounts {
  std::array<int64_t, kComponentCount> by_component{};
  int64_t other = 0;  // checkpoint tensors that are not part of the architecture

  int64_t operator[](Component c) const { return by_component[static_cast<size_t>(c)]; }
  int64_t total() const;
};

// Elements of every required tensor of the schema (an optional, i.e. tied,
// lm_head counts zero: it is the embedding matrix).
ParameterCounts count_parameters(const std::vector<TensorSpec>& schema);

// Elements actually stored, grouped by the component the schema gives each name.
ParameterCounts count_parameters(const Checkpoint& checkpoint, const std::vector<TensorSpec>& schema);

// Text parameters one token touches: everything in the text model except the
// experts it is not routed to (top-k of E per MoE layer). Vision excluded.
int64_t text_parameters_per_token(const TextConfig& text, const ParameterCounts& counts);

struct CheckpointContents {
  size_t tensor_count = 0;
  size_t shard_count = 0;
  uint64_t tensor_bytes = 0;
  std::map<DType, size_t> tensors_by_dtype;
};
CheckpointContents describe_contents(const Checkpoint& checkpoint);

}  // namespace ql::model
