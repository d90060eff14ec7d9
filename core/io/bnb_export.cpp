#include "core/io/bnb_export.h"

#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/io/bnb_config.h"
#include "core/io/bnb_tensors.h"
#include "core/io/companion_files.h"
#include "core/io/dense16_tensor_writer.h"
#include "core/io/export_source.h"
#include "core/io/safetensors_writer.h"
#include "core/io/sharded_folder.h"
#include "core/model/bnb_layout.h"
#include "core/model/bnb_modules.h"
#include "core/model/json_fields.h"

namespace ql::io {
namespace {

namespace fs = std::filesystem;


struct Plan {
  quant::QuantFormat format = quant::QuantFormat::kInt8Rowwise;
  Dense16Out type = Dense16Out::kBF16;  // of every tensor that stays 16-bit
  quant::SourceDType state_dtype = quant::SourceDType::kBF16;
  std::map<std::string, model::ExpertOrientation> orientation;
  std::vector<model::TensorSpec> schema;  // the modules point into it
  std::vector<model::BnbModule> modules;
  std::map<std::string, size_t> module_by_weight;  // "P.weight" -> index into modules
  struct Companion {
    std::string bytes;
    size_t module = 0;  // index into modules
  };
  std::map<std::string, Companion> companions;     // measured plans only, by tensor name
  std::vector<ShardPlan> shards;
  nlohmann::json config;
};

Result<quant::QuantFormat> format_of(const ExportRequest& request) {
  QL_ASSIGN_OR_RETURN(std::string p, canonical_export_precision(ExportFormat::kBnb, request.precision));
  return p == "nf4" ? quant::QuantFormat::kNf4 : quant::QuantFormat::kInt8Rowwise;
}

// The 16-bit dtype: the source's own for bf16 and fp16 checkpoints (a plain
// copy); an fp32 checkpoint (the tiny test ones) becomes bf16, the model's
// published dtype, as transformers would hold it when loading to quantize.
Dense16Out output_type(const model::Checkpoint& checkpoint, const model::ModelConfig& config) {
  if (config.dtype == model::DType::kF16) return Dense16Out::kF16;
  if (!config.dtype) {
    const auto embed = checkpoint.find("model.language_model.embed_tokens.weight");
    if (embed && embed->dtype == model::DType::kF16) return Dense16Out::kF16;
  }
  return Dense16Out::kBF16;
}

// First pass: quantizes each module once for its small tensors (kept) and its
// quant-state length. Without a context (estimates) nothing is quantized and
// the JSON is counted at its longest.
Status measure_modules(const ExportRequest& request, const model::Checkpoint& checkpoint, ExportContext* context,
                       Plan& plan, std::vector<int64_t>& state_bytes) {
  for (size_t i = 0; i < plan.modules.size(); ++i) {
    const model::BnbModule& m = plan.modules[i];
    if (!context) {
      state_bytes.push_back(max_nf4_quant_state_bytes(m.rows, m.cols, plan.state_dtype));
      continue;
    }
    if (context->cancelled()) return context->stop_error();
    context->report("quantizing (first pass: scales and quant states)", m.name, i, plan.modules.size());
    QL_ASSIGN_OR_RETURN(BnbModuleTensors t,
                        quantize_bnb_module(checkpoint, m, plan.format, plan.state_dtype, request.threads));
    int64_t json_bytes = 0;
    for (auto& [name, bytes] : t.companions) {
      if (name == m.name + model::kNf4QuantStateSuffix) json_bytes = static_cast<int64_t>(bytes.size());
      plan.companions.emplace(name, Plan::Companion{std::move(bytes), i});
    }
    state_bytes.push_back(json_bytes);
  }
  return {};
}

Result<Plan> make_plan(const ExportRequest& request, const model::Checkpoint& checkpoint,
                       const model::ModelConfig& config, ExportContext* measuring) {
  if (config.quantization)
    return err("{}: already a bitsandbytes {} checkpoint; export from the 16-bit original", checkpoint.dir(),
               model::bnb_format_name(*config.quantization));
  if (request.max_shard_bytes == 0) return err("the shard size must be more than 0 bytes");
  Plan plan;
  QL_ASSIGN_OR_RETURN(plan.format, format_of(request));
  plan.type = output_type(checkpoint, config);
  plan.state_dtype = plan.type == Dense16Out::kF16 ? quant::SourceDType::kF16 : quant::SourceDType::kBF16;
  QL_ASSIGN_OR_RETURN(plan.orientation, expert_orientations(checkpoint, config));
  plan.schema = model::build_tensor_schema(config);
  // transformers' defaults (llm_int8_skip_modules null: lm_head only).
  for (auto& m : model::bnb_quantized_modules(plan.schema, model::bnb_default_skip_modules())) {
    if (!checkpoint.find(m.weight->name)) continue;  // an absent optional tensor (tied lm_head)
    plan.module_by_weight[m.weight->name] = plan.modules.size();
    plan.modules.push_back(std::move(m));
  }
  std::vector<int64_t> state_bytes;
  QL_TRY(measure_modules(request, checkpoint, measuring, plan, state_bytes));

  std::vector<SafetensorsEntry> entries;
  for (const model::TensorView& t : checkpoint.tensors()) {
    const std::string name(t.name);
    if (auto it = plan.module_by_weight.find(name); it != plan.module_by_weight.end()) {
      for (auto& e : bnb_module_entries(plan.format, plan.modules[it->second], state_bytes[it->second]))
        entries.push_back(std::move(e));
      continue;
    }
    entries.push_back({name, dense16_safetensors_dtype(plan.type),
                       dense16_output_shape(t, stored_out_in(plan.orientation, name))});
  }
  plan.shards = plan_shards(std::move(entries), request.max_shard_bytes);
  QL_ASSIGN_OR_RETURN(plan.config, bnb_export_config(request.model_dir, plan.format, dense16_torch_dtype(plan.type)));
  return plan;
}

bool is_fused_qkv(const model::BnbModule& m) {
  const std::string tail = ".attn.qkv";
  return m.name.size() >= tail.size() && m.name.compare(m.name.size() - tail.size(), tail.size(), tail) == 0;
}

// The second pass for one module: quantizes it again, checks the small
// tensors already written are this quantization's, writes the codes.
Status write_module_codes(const ExportRequest& request, const model::Checkpoint& checkpoint, const Plan& plan,
                          const model::BnbModule& m, AtomicFile& out, TensorExportReport& report) {
  QL_ASSIGN_OR_RETURN(BnbModuleTensors t,
                      quantize_bnb_module(checkpoint, m, plan.format, plan.state_dtype, request.threads));
  for (const auto& [name, bytes] : t.companions)
    if (plan.companions.at(name).bytes != bytes)
      return internal_err("{}: quantizing it twice gave different tensors ({})", m.name, name);
  QL_TRY(out.write(bnb_code_bytes(*t.weight).data(), bnb_code_bytes(*t.weight).size()));
  QL_ASSIGN_OR_RETURN(quant::SourceTensor src, bnb_module_source(checkpoint, m));
  report.rel_rmse = decoded_rel_rmse(*t.weight, src);
  report.inapp_format = quant::quant_format_name(plan.format);
  // The loader quantizes with the same functions, so its error is this one,
  // except for the vision qkv, which it quantizes as three parts (NF4 blocks
  // and double quantization then differ; int8 rows do not).
  if (plan.format == quant::QuantFormat::kNf4 && is_fused_qkv(m)) {
    QL_ASSIGN_OR_RETURN(report.inapp_rel_rmse, inapp_rel_rmse(src, plan.format, 3, request.threads));
  } else {
    report.inapp_rel_rmse = report.rel_rmse;
  }
  return {};
}

std::string report_type(const SafetensorsEntry& e, const Plan& plan, bool codes) {
  if (codes && plan.format == quant::QuantFormat::kNf4) return e.dtype + " (nf4)";
  if (codes) return e.dtype + " (int8)";
  return e.dtype;
}

Status write_shard(const ExportRequest& request, const model::Checkpoint& checkpoint, const Plan& plan,
                   const ShardPlan& shard, ExportContext& context, ExportResult& result) {
  const std::string path = export_path(request, shard.file_name);
  std::vector<TensorExportReport> reports;
  auto write_one = [&](const SafetensorsEntry& e, AtomicFile& out) -> Status {
    TensorExportReport r;
    r.file = shard.file_name;
    r.name = r.source = e.name;
    r.shape = e.shape;
    r.bytes = e.nbytes();
    const auto module = plan.module_by_weight.find(e.name);
    r.type = report_type(e, plan, module != plan.module_by_weight.end());
    if (module != plan.module_by_weight.end()) {
      QL_TRY(write_module_codes(request, checkpoint, plan, plan.modules[module->second], out, r));
    } else if (const auto small = plan.companions.find(e.name); small != plan.companions.end()) {
      QL_TRY(out.write(small->second.bytes.data(), small->second.bytes.size()));
      r.source = plan.modules[small->second.module].weight->name;
    } else {
      const auto src = checkpoint.find(e.name);
      if (!src) return internal_err("{}: tensor vanished from the checkpoint", e.name);
      Dense16Stats stats;
      QL_TRY(write_dense16_tensor(*src, stored_out_in(plan.orientation, e.name), plan.type, out, &context,
                                  request.threads, &stats));
      r.rel_rmse = stats.converted ? stats.rel_rmse() : 0.0;  // a byte copy is exact
    }
    reports.push_back(std::move(r));
    return {};
  };
  QL_TRY(write_safetensors(path, shard.entries, transformers_metadata(), write_one, &context));
  std::error_code ec;
  result.files.push_back({path, fs::file_size(path, ec)});
  for (auto& r : reports) result.tensors.push_back(std::move(r));
  return {};
}

void add_notes(const Plan& plan, const model::Checkpoint& checkpoint, ExportResult& result) {
  const char* format = quant::quant_format_name(plan.format);
  const char* dtype16 = dense16_safetensors_dtype(plan.type);
  std::set<std::string> components;
  for (const auto& m : plan.modules) components.insert(std::string(model::component_name(m.weight->component)));
  result.notes.push_back(fmt::format("{} Linear modules quantized to {} ({}), as transformers + bitsandbytes "
                                     "quantize them",
                                     plan.modules.size(), format, fmt::join(components, ", ")));
  result.notes.push_back(fmt::format(
      "experts stay {}: transformers 5's bitsandbytes integration does not quantize fused MoE experts, so a file it "
      "loads holds them 16-bit (for the full model about 60 GB; GGUF is the compact export)",
      dtype16));
  result.notes.push_back(fmt::format("router, embeddings, lm_head, norms, biases, the vision patch embedding and "
                                     "position table stay {} (not nn.Linear, or skipped by default)",
                                     dtype16));
  size_t converted = 0;
  for (const model::TensorView& t : checkpoint.tensors())
    if (!plan.module_by_weight.count(std::string(t.name)) && model::dtype_name(t.dtype) != dtype16) ++converted;
  if (converted)
    result.notes.push_back(fmt::format("{} 16-bit tensor{} converted to {} (round to nearest even)", converted,
                                       converted == 1 ? "" : "s", dtype16));
  size_t transposed = 0;
  for (const auto& [name, o] : plan.orientation) transposed += o == model::ExpertOrientation::kOutIn;
  if (transposed)
    result.notes.push_back(fmt::format("{} fused expert tensor{} written in the published orientation [E, H, 2I] / "
                                       "[E, I, H]",
                                       transposed, transposed == 1 ? "" : "s"));
}

}  // namespace

Result<ExportEstimate> estimate_bnb_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                                           const model::ModelConfig& config) {
  QL_ASSIGN_OR_RETURN(Plan plan, make_plan(request, checkpoint, config, nullptr));
  return estimate_sharded_folder(request, plan.shards, plan.config);
}

Status write_bnb_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                        const model::ModelConfig& config, ExportContext& context, ExportResult& result) {
  QL_ASSIGN_OR_RETURN(Plan plan, make_plan(request, checkpoint, config, &context));
  size_t entries = 0;
  for (const auto& shard : plan.shards) entries += shard.entries.size();
  context.set_tensor_count(entries);
  for (const auto& shard : plan.shards) QL_TRY(write_shard(request, checkpoint, plan, shard, context, result));
  QL_TRY(finish_sharded_folder(request, plan.shards, plan.config, context, result));
  add_notes(plan, checkpoint, result);
  return {};
}

}  // namespace ql::io
