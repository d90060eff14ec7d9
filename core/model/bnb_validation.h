#pragma once
// Checking a checkpoint against its config when it may be a bitsandbytes one:
// the tensors it keeps 16-bit against the architecture's schema, as for any
// checkpoint, and every quantized module's tensors (bnb_layout.h) by name,
// dtype and shape, its weight_format value and its NF4 quant-state JSON.
// Every problem names the tensor and the module it belongs to.
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"
#include "core/model/tensor_validation.h"

namespace ql::model {

// The one check every loader runs: validate_checkpoint over the schema for a
// 16-bit folder, validate_bnb_checkpoint when config.json has a
// quantization_config.
ValidationReport validate_model_checkpoint(const Checkpoint& checkpoint, const ModelConfig& config);

ValidationReport validate_bnb_checkpoint(const Checkpoint& checkpoint, const ModelConfig& config,
                                         const BnbQuantization& quantization);

}  // namespace ql::model
