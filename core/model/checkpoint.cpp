#include "core/common/result.h"
#include "core/model/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/common/mapped_file.h"
#include "core/common/small_file.h"
#include "core/model/json_fields.h"

namespace ql::model {

namespace fs = std::filesystem;

namespace {

// weight_map values are file names resolved in the index's folder; a path
// would let an index point outside the model folder.
bool is_plain_file_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\\') == std::string::npos && s.find('\0') == std::string::npos;
}

struct Index {
  std::map<std::string, std::string> weight_map;     // tensor -> shard file name
  std::map<std::string, std::string> shard_example;  // shard -> first tensor mapped to it
  std::optional<uint64_t> total_size;
};

Result<Index> read_index(const std::string& path) {
  QL_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  QL_ASSIGN_OR_RETURN(nlohmann::json root, JsonFields::parse_object(text, path));
  const JsonFields top(root, path, "");
  Index idx;
  if (top.has("metadata")) {
    QL_ASSIGN_OR_RETURN(JsonFields meta, top.object("metadata"));
    if (meta.has("total_size")) {
      QL_ASSIGN_OR_RETURN(int64_t total, meta.integer("total_size"));
      if (total < 0) return meta.invalid("total_size", fmt::format("negative size {}", total));
      idx.total_size = static_cast<uint64_t>(total);
    }
  }
  if (auto map = top.object("weight_map"); !map.ok()) return map.error();  // present and an object
  for (const auto& [tensor, shard] : root.at("weight_map").items()) {
    if (!shard.is_string())
      return err("{}: weight_map[{}]: expected a shard file name, got {}", path, quote(tensor),
                 describe_json_type(shard));
    const auto& name = shard.get_ref<const std::string&>();
    if (!is_plain_file_name(name))
      return err("{}: weight_map[{}]: shard {} must be a file name inside the model folder", path, quote(tensor),
                 quote(name));
    idx.weight_map[tensor] = name;
    idx.shard_example.emplace(name, tensor);
  }
  if (idx.weight_map.empty()) return err("{}: weight_map is empty: no weights", path);
  return idx;
}

}  // namespace

bool Checkpoint::has_weights(const std::string& dir) {
  return something_at(dir + "/" + kIndexFileName) || something_at(dir + "/" + kSingleFileName);
}

Status Checkpoint::add_shard_tensors(size_t shard) {
  const auto& tensors = shards_[shard].tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto [it, inserted] = by_name_.emplace(tensors[i].name, Location{shard, i});
    if (!inserted)
      return err("{}: tensor {} is also stored in {}", shards_[shard].path(), quote(tensors[i].name),
                 shards_[it->second.shard].path());
  }
  return {};
}

Result<Checkpoint> Checkpoint::open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return err("{}: not a folder", dir);
  Checkpoint c;
  c.dir_ = dir;
  const std::string index_path = dir + "/" + kIndexFileName;
  const std::string single_path = dir + "/" + kSingleFileName;

  // Something there (small_file.h): a FIFO or a folder in a shard's or the
  // index's place is refused by name when opened, not taken for "no weights".
  if (!something_at(index_path)) {
    if (!something_at(single_path))
      return err("{}: no weights found (neither {} nor {})", dir, kIndexFileName, kSingleFileName);
    QL_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::open(single_path));
    if (f.tensors().empty()) return err("{}: holds no tensors", single_path);
    c.shards_.push_back(std::move(f));
    QL_TRY(c.add_shard_tensors(0));
    return c;
  }

  QL_ASSIGN_OR_RETURN(Index idx, read_index(index_path));
  c.index_total_size_ = idx.total_size;
  std::map<std::string, size_t> shard_number;
  for (const auto& [shard, example] : idx.shard_example) {
    const std::string path = dir + "/" + shard;
    if (!something_at(path))
      return err("{}: shard {} not found (it should hold tensor {})", index_path, quote(shard), quote(example));
    QL_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::open(path));
    shard_number[shard] = c.shards_.size();
    c.shards_.push_back(std::move(f));
  }
  for (size_t s = 0; s < c.shards_.size(); ++s) QL_TRY(c.add_shard_tensors(s));

  // The index and the shard headers must agree tensor by tensor.
  for (const auto& [tensor, shard] : idx.weight_map) {
    auto it = c.by_name_.find(tensor);
    if (it == c.by_name_.end())
      return err("{}: tensor {} is mapped to {} but absent from it", index_path, quote(tensor), quote(shard));
    const std::string& actual = c.shards_[it->second.shard].path();
    if (it->second.shard != shard_number.at(shard))
      return err("{}: tensor {} is mapped to {} but stored in {}", index_path, quote(tensor), quote(shard),
                 fs::path(actual).filename().string());
  }
  for (const auto& [tensor, loc] : c.by_name_)
    if (!idx.weight_map.count(tensor))
      return err("{}: tensor {} is stored in {} but not listed in the index", index_path, quote(tensor),
                 fs::path(c.shards_[loc.shard].path()).filename().string());
  return c;
}

std::optional<TensorView> Checkpoint::find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end()) return std::nullopt;
  const auto& shard = shards_[it->second.shard];
  return shard.view(shard.tensors()[it->second.tensor]);
}

std::vector<TensorView> Checkpoint::tensors() const {
  std::vector<TensorView> out;
  out.reserve(by_name_.size());
  for (const auto& [name, loc] : by_name_) out.push_back(shards_[loc.shard].view(shards_[loc.shard].tensors()[loc.tensor]));
  std::sort(out.begin(), out.end(), [](const TensorView& a, const TensorView& b) { return a.name < b.name; });
  return out;
}

Status Checkpoint::unchanged() const {
  for (const SafetensorsFile& shard : shards_) QL_TRY(shard.unchanged());
  return {};
}

}  // namespace ql::model
