#include "core/common/result.h"
#include "core/model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "core/model/json_fields.h"

namespace ql::model {

using nlohmann::json;

namespace {

int64_t product(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// nlohmann keeps the last of two equal keys silently; the format forbids
// duplicates, so the parse callback records the first one it sees.
struct DuplicateKeyFinder {
  std::vector<std::set<std::string>> open_objects;
  std::string top_key;     // the tensor entry being parsed
  std::string error;

  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    if (!error.empty()) return true;
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (depth == 1) top_key = key;
      if (!open_objects.back().insert(key).second) {
        error = depth == 1 ? fmt::format("tensor {} is listed twice in the header", quote(key))
                           : fmt::format("tensor {}: key {} appears twice", quote(top_key), quote(key));
      }
    }
    return true;
  }
};

Result<json> parse_header_json(const uint8_t* begin, size_t n, const std::string& label) {
  // The format requires an object; checking the first byte also rejects
  // a bare number or string cheaply (safetensors InvalidHeaderStart).
  if (n == 0 || begin[0] != '{') return err("{}: header is not a JSON object (must start with '{{')", label);
  DuplicateKeyFinder dups;
  json j;
  try {
    j = json::parse(begin, begin + n, std::ref(dups));
  } catch (const json::exception& e) {
    return err("{}: header is not valid JSON: {}", label, e.what());
  }
  if (!dups.error.empty()) return err("{}: {}", label, dups.error);
  if (!j.is_object()) return err("{}: header is not a JSON object", label);
  return j;
}

Status parse_metadata(const json& meta, const std::string& label, SafetensorsHeader& h) {
  if (!meta.is_object()) return err("{}: __metadata__: expected an object, got {}", label, describe_json_type(meta));
  for (const auto& [k, v] : meta.items()) {
    if (!v.is_string())
      return err("{}: __metadata__[{}]: expected a string, got {}", label, quote(k), describe_json_type(v));
    h.metadata[k] = v.get<std::string>();
  }
  return {};
}

struct Offsets {
  uint64_t begin = 0, end = 0;
};

Result<TensorInfo> parse_entry(const std::string& name, const json& e, const std::string& label,
                               Offsets& offsets) {
  const std::string who = fmt::format("{}: tensor {}", label, quote(name));
  if (!e.is_object()) return err("{}: expected an object, got {}", who, describe_json_type(e));
  TensorInfo t;
  t.name = name;

  auto dt = e.find("dtype");
  if (dt == e.end()) return err("{}: dtype: missing", who);
  if (!dt->is_string()) return err("{}: dtype: expected a string, got {}", who, describe_json_type(*dt));
  const auto& dtype_str = dt->get_ref<const std::string&>();
  auto dtype = dtype_from_safetensors(dtype_str);
  if (!dtype) {
    if (is_known_safetensors_dtype(dtype_str))
      return err("{}: dtype {} is not supported (only BF16, F16, F32, and I8/U8 in bitsandbytes checkpoints)", who,
                 dtype_str);
    return err("{}: unknown dtype {}", who, quote(dtype_str));
  }
  t.dtype = *dtype;

  auto sh = e.find("shape");
  if (sh == e.end()) return err("{}: shape: missing", who);
  if (!sh->is_array()) return err("{}: shape: expected a list of non-negative integers, got {}", who, brief(*sh));
  for (const json& d : *sh) {
    int64_t v = 0;
    if (!json_to_int64(d, v) || v < 0)
      return err("{}: shape: expected a list of non-negative integers, got {}", who, brief(*sh));
    t.shape.push_back(v);
  }

  auto off = e.find("data_offsets");
  if (off == e.end()) return err("{}: data_offsets: missing", who);
  int64_t b = 0, en = 0;
  if (!off->is_array() || off->size() != 2 || !json_to_int64((*off)[0], b) || !json_to_int64((*off)[1], en) ||
      b < 0 || b > en)
    return err("{}: data_offsets: expected [begin, end] with 0 <= begin <= end, got {}", who, brief(*off));
  offsets = {static_cast<uint64_t>(b), static_cast<uint64_t>(en)};

  // Element count and byte size, refusing shapes whose size overflows 64 bits.
  uint64_t bytes = dtype_size(t.dtype);
  for (int64_t d : t.shape) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes) ||
        bytes > static_cast<uint64_t>(INT64_MAX))
      return err("{}: shape {} is too large", who, format_shape(t.shape));
  }
  if (bytes != offsets.end - offsets.begin)
    return err("{}: data_offsets [{}, {}] hold {} bytes but shape {} of {} needs {}", who, offsets.begin,
               offsets.end, offsets.end - offsets.begin, format_shape(t.shape), dtype_name(t.dtype), bytes);
  t.nbytes = bytes;
  return t;
}

// Every byte of the data buffer belongs to exactly one tensor (docs/formats.md §1.1).
Status check_coverage(const std::vector<TensorInfo>& tensors, const std::vector<Offsets>& offsets,
                      uint64_t buffer_size, const std::string& label) {
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return offsets[a].begin != offsets[b].begin ? offsets[a].begin < offsets[b].begin
                                                : offsets[a].end < offsets[b].end;
  });
  uint64_t covered = 0;  // end of the data claimed so far
  const TensorInfo* last = nullptr;
  for (size_t i : order) {
    const Offsets& o = offsets[i];
    const std::string& name = tensors[i].name;
    if (o.begin < covered)
      return err("{}: tensor {} [{}, {}) overlaps tensor {} (which ends at {})", label, quote(name), o.begin,
                 o.end, quote(last->name), covered);
    if (o.begin > covered)
      return err("{}: bytes [{}, {}) of the data buffer belong to no tensor (hole before tensor {})", label,
                 covered, o.begin, quote(name));
    covered = o.end;
    last = &tensors[i];
  }
  if (covered != buffer_size)
    return err("{}: bytes [{}, {}) of the data buffer belong to no tensor (after {})", label, covered,
               buffer_size, last ? "tensor " + quote(last->name) : std::string("the header"));
  return {};
}

}  // namespace

int64_t TensorInfo::numel() const { return product(shape); }
int64_t TensorView::numel() const { return product(shape); }

std::string format_shape(std::span<const int64_t> shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

Result<SafetensorsHeader> parse_safetensors(const uint8_t* bytes, size_t size, const std::string& label) {
  if (size < 8) return err("{}: truncated: {} bytes, fewer than the 8-byte header length", label, size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];  // little-endian u64
  if (n > kMaxSafetensorsHeaderBytes)
    return err("{}: header length {} exceeds the {} byte limit", label, n, kMaxSafetensorsHeaderBytes);
  if (n > size - 8)
    return err("{}: header length {} runs past the end of the file ({} bytes)", label, n, size);

  QL_ASSIGN_OR_RETURN(json j, parse_header_json(bytes + 8, static_cast<size_t>(n), label));
  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t buffer_size = size - h.data_start;
  std::vector<Offsets> offsets;
  for (const auto& [name, entry] : j.items()) {  // std::map order: sorted by name
    if (name == "__metadata__") {
      QL_TRY(parse_metadata(entry, label, h));
      continue;
    }
    Offsets o;
    QL_ASSIGN_OR_RETURN(TensorInfo t, parse_entry(name, entry, label, o));
    if (o.end > buffer_size)
      return err("{}: tensor {}: data_offsets [{}, {}] run past the end of the data buffer ({} bytes)", label,
                 quote(name), o.begin, o.end, buffer_size);
    t.offset = h.data_start + o.begin;
    h.tensors.push_back(std::move(t));
    offsets.push_back(o);
  }
  QL_TRY(check_coverage(h.tensors, offsets, buffer_size, label));
  return h;
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  QL_ASSIGN_OR_RETURN(f.file_, MappedFile::open(path));
  QL_ASSIGN_OR_RETURN(f.header_, parse_safetensors(f.file_.data(), f.file_.size(), path));
  return f;
}

std::optional<TensorView> SafetensorsFile::find(std::string_view name) const {
  const auto& ts = header_.tensors;
  auto it = std::lower_bound(ts.begin(), ts.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  if (it == ts.end() || it->name != name) return std::nullopt;
  return view(*it);
}

TensorView SafetensorsFile::view(const TensorInfo& t) const {
  return TensorView{t.name, t.dtype, t.shape, file_.data() + t.offset, static_cast<size_t>(t.nbytes)};
}

}  // namespace ql::model
