#include "core/io/sharded_folder.h"

#include <filesystem>

#include "core/io/companion_files.h"
#include "core/model/checkpoint.h"

namespace ql::io {

const std::map<std::string, std::string>& transformers_metadata() {
  static const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  return metadata;
}

std::string export_path(const ExportRequest& request, const std::string& name) {
  return request.out_dir.empty() ? name : (std::filesystem::path(request.out_dir) / name).string();
}

Result<ExportEstimate> estimate_sharded_folder(const ExportRequest& request, const std::vector<ShardPlan>& shards,
                                               const nlohmann::json& config) {
  ExportEstimate e;
  for (const auto& shard : shards) {
    QL_ASSIGN_OR_RETURN(uint64_t size, safetensors_file_size(shard.entries, transformers_metadata()));
    e.files.push_back({export_path(request, shard.file_name), size});
  }
  if (shards.size() > 1) {
    e.files.push_back({export_path(request, model::kIndexFileName), shard_index_json(shards).size()});
  }
  QL_ASSIGN_OR_RETURN(uint64_t companions, companion_files_bytes(request.model_dir, config));
  for (const auto& f : e.files) e.total_bytes += f.bytes;
  e.total_bytes += companions;
  return e;
}

Status finish_sharded_folder(const ExportRequest& request, const std::vector<ShardPlan>& shards,
                             const nlohmann::json& config, ExportContext& context, ExportResult& result) {
  if (context.cancelled()) return context.stop_error();
  if (shards.size() > 1) {
    context.report("writing " + std::string(model::kIndexFileName));
    const std::string path = export_path(request, model::kIndexFileName);
    const std::string text = shard_index_json(shards);
    QL_TRY(write_file_atomically(path, text));
    result.files.push_back({path, text.size()});
    context.add_bytes(text.size());
  }
  if (context.cancelled()) return context.stop_error();
  context.report("writing config.json and the companion files");
  const size_t before = result.files.size();
  QL_TRY(write_companion_files(request.model_dir, request.out_dir, config, result));
  for (size_t i = before; i < result.files.size(); ++i) context.add_bytes(result.files[i].bytes);
  return {};
}

}  // namespace ql::io
