#pragma once
// Plain BF16/FP16 safetensors export (docs/formats.md §8): the checkpoint's own
// names, shapes and layout (fused experts in the published [E, in, out]
// orientation), sharded like the published checkpoint with
// model.safetensors.index.json, __metadata__ {"format": "pt"}, config.json
// declaring the written dtype, and the companion files.
// Called by export_model (core/io/export.cpp) after the output folder checks.
#include "core/common/result.h"
#include "core/io/export.h"
#include "core/io/export_context.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"

namespace ql::io {

// The files and their exact sizes, from the headers alone.
Result<ExportEstimate> estimate_safetensors_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                                                   const model::ModelConfig& config);

// Writes them into request.out_dir (checked and existing): for fp16, first
// the range of every tensor (nothing is written if one overflows), then the
// shards, the index, the companion files and config.json last.
Status write_safetensors_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                                const model::ModelConfig& config, ExportContext& context, ExportResult& result);

}  // namespace ql::io
