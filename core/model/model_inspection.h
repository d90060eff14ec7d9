#pragma once
// Everything known about a model folder without running it: its config, the
// architecture's tensors, the weights found and how they compare. Shared by
// `quantlens-cli info` and the desktop app's model panel.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/model/generation_config.h"
#include "core/model/model_config.h"
#include "core/model/model_info.h"
#include "core/model/tensor_schema.h"
#include "core/model/tensor_validation.h"

namespace ql::model {

enum class WeightsState {
  kValid,      // every tensor matches the config
  kInvalid,    // found, but unreadable or not matching (see validation.problems)
  kNone,       // no model.safetensors.index.json and no model.safetensors
};

struct ModelInspection {
  std::string dir;
  ModelConfig config;
  std::optional<GenerationConfig> generation;  // nullopt when its file is invalid (a problem)
  std::vector<TensorSpec> schema;
  WeightsState weights = WeightsState::kNone;
  bool counts_from_checkpoint = false;  // else derived from config.json
  ParameterCounts parameters;
  int64_t text_parameters_per_token = 0;
  std::optional<CheckpointContents> contents;  // when the checkpoint opened
  ValidationReport validation;                 // also carries open/generation errors as problems
  bool values_scanned = false;                 // every float value was checked for NaN and infinity
  bool internal_failure = false;               // a problem was an I/O failure, not bad input

  bool ok() const { return validation.ok() && weights == WeightsState::kValid; }
};

// Fails only when config.json cannot be read or is invalid; problems with the
// weights or generation_config.json are reported in `validation`.
// `scan_values`: also read every float value and report tensors holding NaN
// or infinity (a full read of the weights: seconds per GB).
Result<ModelInspection> inspect_model_folder(const std::string& dir, bool scan_values = false);

}  // namespace ql::model
