#pragma once
// A model folder's weights (docs/model.md §2, docs/formats.md §1.2): the shards named by
// model.safetensors.index.json, or a single model.safetensors. Every shard's
// header is validated and cross-checked with the index when the folder is
// opened; tensors are then looked up by name without touching their bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/common/result.h"
#include "core/model/safetensors.h"

namespace ql::model {

inline constexpr const char* kIndexFileName = "model.safetensors.index.json";
inline constexpr const char* kSingleFileName = "model.safetensors";

class Checkpoint {
 public:
  // Errors: no weights at all, index not JSON or malformed, a missing or
  // invalid shard, a tensor absent from the shard the index names, present in
  // another shard, or present in a shard but missing from the index.
  static Result<Checkpoint> open(const std::string& dir);

  // True if DIR holds an index or a model.safetensors (whether or not valid).
  static bool has_weights(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  size_t tensor_count() const { return by_name_.size(); }
  std::optional<uint64_t> index_total_size() const { return index_total_size_; }

  std::optional<TensorView> find(std::string_view name) const;
  // Every tensor, sorted by name.
  std::vector<TensorView> tensors() const;
  // An error naming the first shard that changed on disk since it was mapped
  // (core/common/mapped_file.h): reading it further could end the process.
  Status unchanged() const;

 private:
  struct Location {
    size_t shard = 0;
    size_t tensor = 0;  // index into that shard's tensors()
  };
  Status add_shard_tensors(size_t shard);

  std::string dir_;
  std::vector<SafetensorsFile> shards_;
  std::unordered_map<std::string, Location> by_name_;
  std::optional<uint64_t> index_total_size_;
};

}  // namespace ql::model
