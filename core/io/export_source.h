#pragma once
// The source checkpoint of an export, opened and checked once: config.json
// parsed, the shards' headers read (mmapped; no weight is touched), every
// tensor checked against the architecture's schema, and the orientation of
// each fused expert tensor decided by its shape (docs/model.md §2.1).
#include <map>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"
#include "core/model/tensor_validation.h"

namespace ql::io {

struct ExportSource {
  model::Checkpoint checkpoint;
  model::ModelConfig config;
  std::map<std::string, model::ExpertOrientation> expert_orientation;  // fused expert tensors only
};

// Errors: no config.json or a bad one, no weights or broken shards, and any
// schema problem (the summary and the first few, each naming the tensor).
Result<ExportSource> open_export_source(const std::string& model_dir);

// The expert orientations of an already opened checkpoint (same checks).
Result<std::map<std::string, model::ExpertOrientation>> expert_orientations(const model::Checkpoint& checkpoint,
                                                                            const model::ModelConfig& config);

// True when `name` is a fused expert tensor stored [E, out, in] (the
// transformers-5 in-memory orientation), which exports write transposed to
// the published [E, in, out].
bool stored_out_in(const std::map<std::string, model::ExpertOrientation>& orientation, const std::string& name);

}  // namespace ql::io
