#include "core/io/export_source.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/model/generation_config.h"
#include "core/model/tensor_schema.h"

namespace ql::io {

Result<std::map<std::string, model::ExpertOrientation>> expert_orientations(const model::Checkpoint& checkpoint,
                                                                            const model::ModelConfig& config) {
  const auto schema = model::build_tensor_schema(config);
  const model::ValidationReport report = model::validate_checkpoint(checkpoint, schema, config.dtype);
  if (!report.ok()) {
    // An export of a broken checkpoint would only move the problem to another tool.
    std::string msg = report.summary();
    const size_t shown = std::min<size_t>(report.problems.size(), 5);
    for (size_t i = 0; i < shown; ++i) msg += "; " + report.problems[i];
    if (report.problems.size() > shown) msg += fmt::format("; and {} more", report.problems.size() - shown);
    return err("{}", msg);
  }
  return report.expert_orientation;
}

Result<ExportSource> open_export_source(const std::string& model_dir) {
  QL_ASSIGN_OR_RETURN(model::ModelConfig config, model::load_model_config(model_dir));
  // Every format quantizes or converts from 16-bit weights; re-exporting int8
  // codes or NF4 nibbles would compound two quantizations.
  if (config.quantization)
    return err("{}: a bitsandbytes {} checkpoint; exports read 16-bit weights: export from the 16-bit original",
               model_dir, model::bnb_format_name(*config.quantization));
  // Checked as info and loading check it: an export copies (or, for GGUF,
  // translates) this file, and must not carry a broken one to other tools.
  QL_TRY(model::load_generation_config(model_dir));
  QL_ASSIGN_OR_RETURN(model::Checkpoint checkpoint, model::Checkpoint::open(model_dir));
  QL_ASSIGN_OR_RETURN(auto orientation, expert_orientations(checkpoint, config));
  return ExportSource{std::move(checkpoint), std::move(config), std::move(orientation)};
}

bool stored_out_in(const std::map<std::string, model::ExpertOrientation>& orientation, const std::string& name) {
  const auto it = orientation.find(name);
  return it != orientation.end() && it->second == model::ExpertOrientation::kOutIn;
}

}  // namespace ql::io
