#pragma once
// GGUF export (docs/formats.md §2-§5): the text model GGUF and the vision
// projector (mmproj) GGUF, as llama.cpp's convert_hf_to_gguf.py (+
// llama-quantize for the K-quant mixes) writes them for Qwen3-VL-MoE.
// Called by export_model (core/io/export.cpp) after the output folder checks.
#include <string>

#include "core/common/result.h"
#include "core/io/export.h"
#include "core/io/export_context.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"

namespace ql::io {

// The files a GGUF export writes and their exact sizes (from the headers alone).
Result<ExportEstimate> estimate_gguf_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                                            const model::ModelConfig& config);

// Writes the files into request.out_dir (already checked and existing), each
// through AtomicFile; appends them and their tensors to `result`.
Status write_gguf_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                         const model::ModelConfig& config, ExportContext& context, ExportResult& result);

}  // namespace ql::io
