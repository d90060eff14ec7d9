#pragma once
// bitsandbytes-format export (docs/formats.md §6, §7): the safetensors folder that
// transformers + bitsandbytes write with save_pretrained for an LLM.int8 or
// NF4 (double quantization) model: the quantized Linear modules as their
// bitsandbytes tensors (model/bnb_layout.h), everything else 16-bit (fused
// experts included: transformers 5 does not quantize them), config.json with
// the full quantization_config, and the companion files beside them.
// Called by export_model (core/io/export.cpp) after the output folder checks.
#include "core/common/result.h"
#include "core/io/export.h"
#include "core/io/export_context.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"

namespace ql::io {

// The files and their sizes from the headers alone. Exact except for each
// NF4 module's quant-state JSON, counted at its longest (24 characters for
// nested_offset, which is known only after quantizing): an upper bound.
Result<ExportEstimate> estimate_bnb_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                                           const model::ModelConfig& config);

// Writes them into request.out_dir (checked and existing). Each quantized
// module is quantized twice, one tensor at a time: a first pass keeps only its
// small tensors (scales, absmax codes, quant state: what the file header and
// the reference writer's tensor order need before the codes), the second
// writes the codes. Host memory stays near one module plus those small tensors.
Status write_bnb_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                        const model::ModelConfig& config, ExportContext& context, ExportResult& result);

}  // namespace ql::io
