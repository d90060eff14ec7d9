#pragma once
// What the two safetensors-based exports (plain and bitsandbytes) share: the
// layout of a transformers-style folder — shards named by plan_shards, an
// index when there is more than one, __metadata__ {"format": "pt"}, the
// companion files — and the size estimate of such a folder.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/result.h"
#include "core/io/export.h"
#include "core/io/export_context.h"
#include "core/io/safetensors_writer.h"

namespace ql::io {

// {"format": "pt"}: what transformers writes, and what loaders check for PyTorch.
const std::map<std::string, std::string>& transformers_metadata();

// request.out_dir / name (just name when out_dir is empty).
std::string export_path(const ExportRequest& request, const std::string& name);

// Every file of the folder with its exact size: the shards, the index (when
// sharded), the companion files with `config` as config.json.
Result<ExportEstimate> estimate_sharded_folder(const ExportRequest& request, const std::vector<ShardPlan>& shards,
                                               const nlohmann::json& config);

// After the shards: the index (when sharded), then config.json and the
// companion files, each written atomically, with progress and cancel checks.
Status finish_sharded_folder(const ExportRequest& request, const std::vector<ShardPlan>& shards,
                             const nlohmann::json& config, ExportContext& context, ExportResult& result);

}  // namespace ql::io
