#pragma once
// Writes the files of a GGUF export plan, streaming: the header first (all
// sizes are known), then each tensor slice by slice (read from the mapped
// checkpoint, converted or quantized, written, padded), with progress and
// cancellation between slices. Every file goes through AtomicFile and all of
// them are renamed into place only after the last one is complete, so a
// cancelled or failed export leaves no file.
#include "core/common/result.h"
#include "core/io/export.h"
#include "core/io/export_context.h"
#include "core/io/gguf/gguf_plan.h"

namespace ql::io::gguf {

struct GgufWriteOptions {
  int threads = 0;                   // 0: every core
  bool report_tensor_errors = true;  // also dequantize and run the in-app quantization per tensor
};

// Appends the written files and one report per tensor to `result`.
Status write_gguf_files(const GgufExportPlan& plan, const GgufWriteOptions& options, ExportContext& context,
                        ExportResult& result);

}  // namespace ql::io::gguf
