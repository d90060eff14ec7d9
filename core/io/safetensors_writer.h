#pragma once
// Streaming safetensors writer (docs/formats.md §1): the header is computed from
// the tensor list up front (so the file's size is known before writing), then
// each tensor's bytes are produced by a callback, one tensor at a time, so
// host memory stays near one tensor. Files are laid out as the reference
// (Rust) writer lays them out: tensors sorted by dtype (descending) then name,
// compact header JSON with __metadata__ first, padded with spaces to a
// multiple of 8.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/common/result.h"
#include "core/io/atomic_file.h"
#include "core/io/export_context.h"

namespace ql::io {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // safetensors spelling: "BF16", "F16", "F32", "I8", "U8", ...
  std::vector<int64_t> shape;  // [] = 0-rank (one element)
  uint64_t nbytes() const;     // numel * itemsize (0 for a dtype the writer does not know)
};

// Item size of a safetensors dtype string; error names an unknown one (and
// the sub-byte F4 / F6_* types, which this writer does not write).
Result<size_t> safetensors_dtype_size(const std::string& dtype);

// Entries in the order the reference writer puts them in the buffer.
std::vector<SafetensorsEntry> safetensors_buffer_order(std::vector<SafetensorsEntry> entries);

// The exact header bytes (8-byte length + padded JSON) and the total file size.
// Errors: an unknown dtype, a negative dimension, an empty or duplicate name,
// a tensor named "__metadata__" (each naming the tensor).
Result<std::string> safetensors_header_bytes(const std::vector<SafetensorsEntry>& entries,
                                             const std::map<std::string, std::string>& metadata);
Result<uint64_t> safetensors_file_size(const std::vector<SafetensorsEntry>& entries,
                                       const std::map<std::string, std::string>& metadata);

// Writes exactly entry.nbytes() bytes of one tensor to `out` (in pieces if it
// likes; a large tensor should poll the context's cancelled() between pieces).
using TensorBytesWriter = std::function<Status(const SafetensorsEntry& entry, AtomicFile& out)>;

// Writes `path` through an AtomicFile: header, then every tensor in buffer
// order through `write_tensor`; checks that each wrote exactly its size;
// polls context->cancelled() between tensors and before the rename; commits
// at the end. With a context, each tensor is announced with begin_tensor
// ("writing FILE") and its bytes are added after it, less any the callback
// added itself while writing (write_dense16_tensor adds each piece).
Status write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                         const std::map<std::string, std::string>& metadata, const TensorBytesWriter& write_tensor,
                         ExportContext* context = nullptr);

// Shards as transformers names them ("model-00001-of-00003.safetensors"):
// tensors in name order, a new shard when the next would pass max_shard_bytes
// (counting tensor data bytes, as transformers does); a tensor larger than
// the limit gets a shard of its own. One shard is written as
// "model.safetensors" without an index.
struct ShardPlan {
  std::string file_name;
  std::vector<SafetensorsEntry> entries;
};
std::vector<ShardPlan> plan_shards(std::vector<SafetensorsEntry> entries, uint64_t max_shard_bytes);
// model.safetensors.index.json contents (indent 2, sorted keys, trailing newline):
// {"metadata": {"total_size": sum of tensor bytes}, "weight_map": {name: file}}.
std::string shard_index_json(const std::vector<ShardPlan>& shards);

}  // namespace ql::io
