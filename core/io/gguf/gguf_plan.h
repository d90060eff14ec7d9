#pragma once
// Everything a GGUF export will write, decided before any tensor is read:
// per file the final path, the KV pairs, the tensors (name, shape, type,
// source) in file order and the encoded header, hence every size. The
// estimate and the writer share it.
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/io/export.h"
#include "core/io/gguf/gguf_container.h"
#include "core/io/gguf/gguf_precision.h"
#include "core/io/gguf/tensor_source.h"
#include "core/model/checkpoint.h"
#include "core/model/model_config.h"

namespace ql::io::gguf {

struct PlannedTensor {
  MappedTensor mapped;
  GgmlType type = GgmlType::kF32;
};

struct GgufFilePlan {
  std::string path;  // final path in the output folder
  bool mmproj = false;
  std::vector<GgufKv> kvs;
  std::vector<PlannedTensor> tensors;
  std::vector<GgufTensorInfo> infos;  // same order, with offsets and sizes
  GgufHeader header;
  uint64_t file_bytes() const { return header.file_bytes(); }
};

struct GgufExportPlan {
  GgufPrecision precision = GgufPrecision::kF16;
  std::vector<GgufFilePlan> files;  // the text model, then the mmproj (when asked for)
  std::vector<std::string> notes;   // choices and deviations worth telling the user
};

// "<folder>-Q4_K_M.gguf" and "mmproj-<folder>-F16.gguf".
std::string text_file_name(const std::string& folder_name, GgufPrecision precision);
std::string mmproj_file_name(const std::string& folder_name, GgufPrecision precision);
// The model folder's last path component ("demo-model" for "x/demo-model/").
std::string model_folder_name(const std::string& model_dir);

// Errors: an unknown precision, a checkpoint that fails validation, a tensor
// with no GGUF name, a tokenizer that does not fit the vocabulary, a missing
// config field.
Result<GgufExportPlan> plan_gguf_export(const ExportRequest& request, const model::Checkpoint& checkpoint,
                                        const model::ModelConfig& config);

}  // namespace ql::io::gguf
