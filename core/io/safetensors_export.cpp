#include "core/io/safetensors_export.h"

#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "core/io/companion_files.h"
#include "core/io/dense16_tensor_writer.h"
#include "core/io/export_source.h"
#include "core/io/safetensors_writer.h"
#include "core/io/sharded_folder.h"

namespace ql::io {
namespace {

namespace fs = std::filesystem;


Result<Dense16Out> output_type(const ExportRequest& request) {
  const auto p = canonical_export_precision(ExportFormat::kSafetensors, request.precision);
  if (!p) return p.error();
  return *p == "fp16" ? Dense16Out::kF16 : Dense16Out::kBF16;
}

struct Plan {
  Dense16Out type = Dense16Out::kBF16;
  std::map<std::string, model::ExpertOrientation> orientation;
  std::vector<ShardPlan> shards;
  nlohmann::json config;
};

Result<Plan> make_plan(const ExportRequest& request, const model::Checkpoint& checkpoint,
                       const model::ModelConfig& config) {
  Plan plan;
  QL_ASSIGN_OR_RETURN(plan.type, output_type(request));
  QL_ASSIGN_OR_RETURN(plan.orientation, expert_orientations(checkpoint, config));
  if (request.max_shard_bytes == 0) return err("the shard size must be more than 0 bytes");
  std::vector<SafetensorsEntry> entries;
  for (const model::TensorView& t : checkpoint.tensors()) {
    const std::string name(t.name);
    entries.push_back(
        {name, dense16_safetensors_dtype(plan.type), dense16_output_shape(t, stored_out_in(plan.orientation, name))});
  }
  plan.shards = plan_shards(std::move(entries), request.max_shard_bytes);
  QL_ASSIGN_OR_RETURN(plan.config, read_source_config(request.model_dir));
  set_config_dtype(plan.config, dense16_torch_dtype(plan.type));
  return plan;
}

// Notes that say what the export changed besides the dtype.
void add_notes(const Plan& plan, const model::Checkpoint& checkpoint, int64_t flushed, int64_t subnormal,
               ExportResult& result) {
  std::map<std::string, size_t> converted_from;
  for (const model::TensorView& t : checkpoint.tensors()) {
    const std::string stored(model::dtype_name(t.dtype));
    if (stored != dense16_safetensors_dtype(plan.type)) ++converted_from[stored];
  }
  for (const auto& [dtype, n] : converted_from)
    result.notes.push_back(fmt::format("{} tensor{} converted from {} to {} (round to nearest even)", n,
                                       n == 1 ? "" : "s", dtype, dense16_safetensors_dtype(plan.type)));
  size_t transposed = 0;
  for (const auto& [name, o] : plan.orientation) transposed += o == model::ExpertOrientation::kOutIn;
  if (transposed)
    result.notes.push_back(
        fmt::format("{} fused expert tensor{} written in the published orientation gate_up_proj [E, H, 2I] / down_proj "
                    "[E, I, H] (the source stored transformers' in-memory [E, 2I, H] / [E, H, I])",
                    transposed, transposed == 1 ? "" : "s"));
  if (flushed || subnormal)
    result.notes.push_back(fmt::format("{}: {} non-zero values became subnormal and {} became zero",
                                       dense16_safetensors_dtype(plan.type), subnormal, flushed));
}

}  // namespace

Result<ExportEstimate> estimate_safetensors_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                                                   const model::ModelConfig& config) {
  QL_ASSIGN_OR_RETURN(Plan plan, make_plan(request, checkpoint, config));
  return estimate_sharded_folder(request, plan.shards, plan.config);
}

Status write_safetensors_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                                const model::ModelConfig& config, ExportContext& context, ExportResult& result) {
  QL_ASSIGN_OR_RETURN(Plan plan, make_plan(request, checkpoint, config));
  const auto tensors = checkpoint.tensors();
  context.set_tensor_count(tensors.size());

  if (plan.type == Dense16Out::kF16) {  // the whole range first: fail before writing anything
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (context.cancelled()) return context.stop_error();
      context.report("checking the float16 range", std::string(tensors[i].name), i, tensors.size());
      QL_TRY(check_fp16_range(tensors[i]));
    }
  }

  int64_t flushed = 0, subnormal = 0;
  for (const auto& shard : plan.shards) {
    const std::string path = export_path(request, shard.file_name);
    std::vector<TensorExportReport> reports;
    auto write_one = [&](const SafetensorsEntry& e, AtomicFile& out) -> Status {
      const auto src = checkpoint.find(e.name);
      if (!src) return internal_err("{}: tensor vanished from the checkpoint", e.name);
      Dense16Stats stats;
      QL_TRY(write_dense16_tensor(*src, stored_out_in(plan.orientation, e.name), plan.type, out, &context,
                                  request.threads, &stats));
      flushed += stats.flushed_to_zero;
      subnormal += stats.became_subnormal;
      TensorExportReport r;
      r.file = shard.file_name;
      r.name = e.name;
      r.source = e.name;
      r.type = e.dtype;
      r.shape = e.shape;
      r.bytes = e.nbytes();
      r.rel_rmse = stats.rel_rmse();
      reports.push_back(std::move(r));
      return {};
    };
    QL_TRY(write_safetensors(path, shard.entries, transformers_metadata(), write_one, &context));
    std::error_code ec;
    result.files.push_back({path, fs::file_size(path, ec)});
    for (auto& r : reports) result.tensors.push_back(std::move(r));
  }
  QL_TRY(finish_sharded_folder(request, plan.shards, plan.config, context, result));
  add_notes(plan, checkpoint, flushed, subnormal, result);
  return {};
}

}  // namespace ql::io
