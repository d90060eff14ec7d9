// GGUF export entry points (docs/formats.md §2-§5): plan both files from the
// checkpoint's headers, then stream them. The pieces live in core/io/gguf/.
#include "core/io/gguf_export.h"

#include "core/io/gguf/gguf_file_writer.h"
#include "core/io/gguf/gguf_plan.h"

namespace ql::io {

Result<ExportEstimate> estimate_gguf_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                                            const model::ModelConfig& config) {
  auto plan = gguf::plan_gguf_export(request, checkpoint, config);
  if (!plan) return plan.error();
  ExportEstimate estimate;
  for (const gguf::GgufFilePlan& f : plan->files) {
    estimate.files.push_back({f.path, f.file_bytes()});
    estimate.total_bytes += f.file_bytes();
  }
  return estimate;
}

Status write_gguf_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                         const model::ModelConfig& config, ExportContext& context, ExportResult& result) {
  context.report("planning");
  auto plan = gguf::plan_gguf_export(request, checkpoint, config);
  if (!plan) return plan.error();
  if (context.cancelled()) return context.stop_error();
  gguf::GgufWriteOptions options;
  options.threads = request.threads;
  options.report_tensor_errors = request.report_tensor_errors;
  return gguf::write_gguf_files(*plan, options, context, result);
}

}  // namespace ql::io
