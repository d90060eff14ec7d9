#include "core/io/safetensors_writer.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ql::io {
namespace {

struct DtypeInfo {
  const char* name;
  int rank;     // position in the reference writer's Dtype enum (ascending)
  size_t size;  // bytes per element; 0 = sub-byte (not written here)
};

// The reference writer sorts by this enum, largest first, which keeps every
// tensor aligned to its element size without padding (docs/formats.md §1.1).
constexpr DtypeInfo kDtypes[] = {
    {"BOOL", 0, 1},         {"F4", 1, 0},      {"F6_E2M3", 2, 0}, {"F6_E3M2", 3, 0}, {"U8", 4, 1},
    {"I8", 5, 1},           {"F8_E5M2", 6, 1}, {"F8_E4M3", 7, 1}, {"F8_E8M0", 8, 1}, {"F8_E4M3FNUZ", 9, 1},
    {"F8_E5M2FNUZ", 10, 1}, {"I16", 11, 2},    {"U16", 12, 2},    {"F16", 13, 2},    {"BF16", 14, 2},
    {"I32", 15, 4},         {"U32", 16, 4},    {"F32", 17, 4},    {"C64", 18, 8},    {"F64", 19, 8},
    {"I64", 20, 8},         {"U64", 21, 8},
};

const DtypeInfo* find_dtype(const std::string& dtype) {
  for (const auto& d : kDtypes)
    if (dtype == d.name) return &d;
  return nullptr;
}

int dtype_rank(const std::string& dtype) {
  const DtypeInfo* d = find_dtype(dtype);
  return d ? d->rank : -1;
}

// Elements of a shape, or -1 on a negative dimension or overflow.
int64_t checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

// A JSON string literal as serde_json writes it (escapes only what JSON requires).
Result<std::string> json_string(const std::string& s, const char* what) {
  try {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::exception&) {
    return err("safetensors header: {} {} is not valid UTF-8", what,
               nlohmann::json(s).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
  }
}

Status check_entries(const std::vector<SafetensorsEntry>& entries) {
  std::set<std::string> names;
  for (const auto& e : entries) {
    if (e.name.empty()) return err("safetensors header: a tensor has an empty name");
    if (e.name == "__metadata__") return err("safetensors header: a tensor may not be named \"__metadata__\"");
    if (!names.insert(e.name).second) return err("safetensors header: tensor {} is listed twice", e.name);
    if (auto size = safetensors_dtype_size(e.dtype); !size) return err("{}: {}", e.name, size.message());
    if (checked_numel(e.shape) < 0)
      return err("{}: shape [{}] has a negative dimension or too many elements", e.name, fmt::join(e.shape, ", "));
  }
  return {};
}

}  // namespace

uint64_t SafetensorsEntry::nbytes() const {
  const DtypeInfo* d = find_dtype(dtype);
  const int64_t n = checked_numel(shape);
  if (!d || n < 0) return 0;
  return static_cast<uint64_t>(n) * d->size;
}

Result<size_t> safetensors_dtype_size(const std::string& dtype) {
  const DtypeInfo* d = find_dtype(dtype);
  if (!d) return err("unknown safetensors dtype \"{}\"", dtype);
  if (d->size == 0)
    return err("safetensors dtype {} packs several values per byte; this writer does not write it", dtype);
  return d->size;
}

std::vector<SafetensorsEntry> safetensors_buffer_order(std::vector<SafetensorsEntry> entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    const int ra = dtype_rank(a.dtype), rb = dtype_rank(b.dtype);
    if (ra != rb) return ra > rb;
    return a.name < b.name;  // std::string compares bytes, as Rust's String does
  });
  return entries;
}

Result<std::string> safetensors_header_bytes(const std::vector<SafetensorsEntry>& entries,
                                             const std::map<std::string, std::string>& metadata) {
  QL_TRY(check_entries(entries));
  std::string json = "{";
  bool first = true;
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    for (const auto& [key, value] : metadata) {
      QL_ASSIGN_OR_RETURN(std::string k, json_string(key, "metadata key"));
      QL_ASSIGN_OR_RETURN(std::string v, json_string(value, "metadata value"));
      if (!first) json += ',';
      json += k + ':' + v;
      first = false;
    }
    json += '}';
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& e : safetensors_buffer_order(entries)) {
    QL_ASSIGN_OR_RETURN(std::string name, json_string(e.name, "tensor name"));
    const uint64_t end = offset + e.nbytes();
    json += fmt::format("{}{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", first ? "" : ",", name,
                        e.dtype, fmt::join(e.shape, ","), offset, end);
    first = false;
    offset = end;
  }
  json += '}';
  json.append((8 - json.size() % 8) % 8, ' ');  // the data buffer starts 8-byte aligned
  std::string out(8, '\0');
  const uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json;
}

Result<uint64_t> safetensors_file_size(const std::vector<SafetensorsEntry>& entries,
                                       const std::map<std::string, std::string>& metadata) {
  QL_ASSIGN_OR_RETURN(std::string header, safetensors_header_bytes(entries, metadata));
  uint64_t total = header.size();
  for (const auto& e : entries) total += e.nbytes();
  return total;
}

Status write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                         const std::map<std::string, std::string>& metadata, const TensorBytesWriter& write_tensor,
                         ExportContext* context) {
  QL_ASSIGN_OR_RETURN(std::string header, safetensors_header_bytes(entries, metadata));
  if (context && context->cancelled()) return context->stop_error();
  const std::string stage = "writing " + std::filesystem::path(path).filename().string();
  QL_ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::create(path));
  QL_TRY(out.write(header.data(), header.size()));
  if (context) context->add_bytes(header.size());
  for (const auto& e : safetensors_buffer_order(entries)) {
    if (context && context->cancelled()) return context->stop_error();
    if (context) context->begin_tensor(stage, e.name);
    const uint64_t before = out.bytes_written();
    const uint64_t reported_before = context ? context->done_bytes() : 0;
    QL_TRY(write_tensor(e, out));
    const uint64_t wrote = out.bytes_written() - before;
    if (wrote != e.nbytes())
      return internal_err("{}: tensor {} wrote {} bytes, its header entry says {}", path, e.name, wrote, e.nbytes());
    // A callback may have reported its pieces already (a large tensor moving the bar).
    const uint64_t reported = context ? context->done_bytes() - reported_before : 0;
    if (context && wrote > reported) context->add_bytes(wrote - reported);
  }
  if (context && context->cancelled()) return context->stop_error();
  return out.commit();
}

std::vector<ShardPlan> plan_shards(std::vector<SafetensorsEntry> entries, uint64_t max_shard_bytes) {
  std::sort(entries.begin(), entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
  std::vector<ShardPlan> shards;
  uint64_t current = 0;
  for (auto& e : entries) {
    const uint64_t n = e.nbytes();
    if (shards.empty() || (current > 0 && current + n > max_shard_bytes)) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().entries.push_back(std::move(e));
    current += n;
  }
  if (shards.empty()) shards.emplace_back();  // no tensors: one empty file
  if (shards.size() == 1) {
    shards[0].file_name = "model.safetensors";
  } else {
    for (size_t i = 0; i < shards.size(); ++i)
      shards[i].file_name = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
  }
  return shards;
}

std::string shard_index_json(const std::vector<ShardPlan>& shards) {
  uint64_t total = 0;
  nlohmann::json weight_map = nlohmann::json::object();
  for (const auto& s : shards) {
    for (const auto& e : s.entries) {
      total += e.nbytes();
      weight_map[e.name] = s.file_name;
    }
  }
  const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  // nlohmann's default object keeps keys sorted, as Python's sort_keys=True;
  // ensure_ascii as Python's json.dumps default.
  return index.dump(2, ' ', true, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace ql::io
