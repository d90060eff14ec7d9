#include "core/io/gguf/gguf_reader.h"

#include <cstring>
#include <limits>
#include <set>

#include "core/io/gguf/block_quants.h"
#include "core/model/safetensors.h"

namespace ql::io::gguf {
namespace {

// A bounds-checked little-endian cursor over the file bytes.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t n, const std::string& label) : p_(p), n_(n), label_(label) {}

  template <typename T>
  Result<T> get(const char* what) {
    if (n_ - pos_ < sizeof(T)) return err("{}: truncated at byte {} while reading {}", label_, pos_, what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  Result<std::string> string(const char* what) {
    auto len = get<uint64_t>(what);
    if (!len) return len.error();
    if (*len > n_ - pos_)
      return err("{}: {} at byte {} claims {} bytes, past the end of the file", label_, what, pos_ - 8, *len);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(*len));
    pos_ += static_cast<size_t>(*len);
    return s;
  }

  size_t pos() const { return pos_; }
  size_t remaining() const { return n_ - pos_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& label_;
};

Status read_element(Cursor& c, GgufValueType type, GgufValue& v, const std::string& key) {
  const char* what = "a metadata value";
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kBool: {
      auto x = c.get<uint8_t>(what);
      if (!x) return x.error();
      v.ints.push_back(*x);
      return {};
    }
    case GgufValueType::kInt8: {
      auto x = c.get<int8_t>(what);
      if (!x) return x.error();
      v.ints.push_back(static_cast<uint64_t>(static_cast<int64_t>(*x)));
      return {};
    }
    case GgufValueType::kUint16: {
      auto x = c.get<uint16_t>(what);
      if (!x) return x.error();
      v.ints.push_back(*x);
      return {};
    }
    case GgufValueType::kInt16: {
      auto x = c.get<int16_t>(what);
      if (!x) return x.error();
      v.ints.push_back(static_cast<uint64_t>(static_cast<int64_t>(*x)));
      return {};
    }
    case GgufValueType::kUint32: {
      auto x = c.get<uint32_t>(what);
      if (!x) return x.error();
      v.ints.push_back(*x);
      return {};
    }
    case GgufValueType::kInt32: {
      auto x = c.get<int32_t>(what);
      if (!x) return x.error();
      v.ints.push_back(static_cast<uint64_t>(static_cast<int64_t>(*x)));
      return {};
    }
    case GgufValueType::kUint64:
    case GgufValueType::kInt64: {
      auto x = c.get<uint64_t>(what);
      if (!x) return x.error();
      v.ints.push_back(*x);
      return {};
    }
    case GgufValueType::kFloat32: {
      auto x = c.get<float>(what);
      if (!x) return x.error();
      v.floats.push_back(*x);
      return {};
    }
    case GgufValueType::kFloat64: {
      auto x = c.get<double>(what);
      if (!x) return x.error();
      v.floats.push_back(*x);
      return {};
    }
    case GgufValueType::kString: {
      auto s = c.string("a string value");
      if (!s) return s.error();
      v.strings.push_back(std::move(*s));
      return {};
    }
    case GgufValueType::kArray: break;
  }
  return err("metadata key '{}': nested arrays are not supported", key);
}

Result<GgufValue> read_value(Cursor& c, const std::string& key, const std::string& label) {
  auto type_id = c.get<uint32_t>("a value type");
  if (!type_id) return type_id.error();
  if (!is_gguf_value_type(*type_id)) return err("{}: metadata key '{}' has unknown value type {}", label, key, *type_id);
  GgufValue v;
  v.type = static_cast<GgufValueType>(*type_id);
  if (v.type != GgufValueType::kArray) {
    QL_TRY(read_element(c, v.type, v, key));
    return v;
  }
  auto elem = c.get<uint32_t>("an array element type");
  if (!elem) return elem.error();
  if (!is_gguf_value_type(*elem) || *elem == static_cast<uint32_t>(GgufValueType::kArray))
    return err("{}: metadata key '{}' has an array of unsupported element type {}", label, key, *elem);
  v.array_type = static_cast<GgufValueType>(*elem);
  auto count = c.get<uint64_t>("an array length");
  if (!count) return count.error();
  // Every element takes at least one byte (a string at least 8): a count
  // beyond the bytes left is corrupt, and must not drive an allocation.
  const size_t min_size = v.array_type == GgufValueType::kString ? 8 : gguf_scalar_size(v.array_type);
  if (*count > c.remaining() / min_size)
    return err("{}: metadata key '{}' claims {} array elements, more than the file holds", label, key, *count);
  for (uint64_t i = 0; i < *count; ++i) QL_TRY(read_element(c, v.array_type, v, key));
  return v;
}

}  // namespace

Result<GgufContents> parse_gguf(const uint8_t* bytes, size_t size, const std::string& label) {
  Cursor c(bytes, size, label);
  GgufContents g;
  auto magic = c.get<uint32_t>("the magic");
  if (!magic) return magic.error();
  if (*magic != kGgufMagic) return err("{}: not a GGUF file (magic 0x{:08x})", label, *magic);
  auto version = c.get<uint32_t>("the version");
  if (!version) return version.error();
  if (*version != 2 && *version != 3) return err("{}: GGUF version {} is not supported (2 or 3)", label, *version);
  g.version = *version;
  auto n_tensors = c.get<uint64_t>("the tensor count");
  if (!n_tensors) return n_tensors.error();
  auto n_kv = c.get<uint64_t>("the metadata count");
  if (!n_kv) return n_kv.error();
  // A KV takes at least 8+4+1 bytes, a tensor info at least 8+4+8+4+8.
  if (*n_kv > c.remaining() / 13 || *n_tensors > c.remaining() / 32)
    return err("{}: claims {} metadata entries and {} tensors, more than the file holds", label, *n_kv, *n_tensors);

  std::set<std::string> keys;
  for (uint64_t i = 0; i < *n_kv; ++i) {
    auto key = c.string("a metadata key");
    if (!key) return key.error();
    if (!keys.insert(*key).second) return err("{}: metadata key '{}' appears twice", label, *key);
    auto value = read_value(c, *key, label);
    if (!value) return value.error();
    g.kvs.push_back({std::move(*key), std::move(*value)});
  }
  if (const GgufValue* a = find_kv(g.kvs, "general.alignment")) {
    if (a->type != GgufValueType::kUint32) return err("{}: general.alignment is not a UINT32", label);
    g.alignment = static_cast<uint32_t>(a->as_u64());
    if (g.alignment == 0 || (g.alignment & (g.alignment - 1)) != 0)
      return err("{}: general.alignment {} is not a power of two", label, g.alignment);
  }

  std::set<std::string> names;
  for (uint64_t i = 0; i < *n_tensors; ++i) {
    GgufTensorInfo t;
    auto name = c.string("a tensor name");
    if (!name) return name.error();
    t.name = std::move(*name);
    if (!names.insert(t.name).second) return err("{}: tensor '{}' appears twice", label, t.name);
    auto n_dims = c.get<uint32_t>("a tensor's dimension count");
    if (!n_dims) return n_dims.error();
    if (*n_dims == 0 || *n_dims > static_cast<uint32_t>(kGgufMaxDims))
      return err("{}: tensor '{}' has {} dimensions (1 to 4)", label, t.name, *n_dims);
    for (uint32_t d = 0; d < *n_dims; ++d) {
      auto n = c.get<uint64_t>("a tensor dimension");
      if (!n) return n.error();
      if (*n == 0 || *n > static_cast<uint64_t>(std::numeric_limits<int32_t>::max()))
        return err("{}: tensor '{}' has dimension {} of size {}", label, t.name, d, *n);
      t.ne.push_back(static_cast<int64_t>(*n));
    }
    auto type = c.get<uint32_t>("a tensor type");
    if (!type) return type.error();
    if (!ggml_type_traits(*type)) return err("{}: tensor '{}' has unknown ggml type {}", label, t.name, *type);
    t.type = static_cast<GgmlType>(*type);
    auto offset = c.get<uint64_t>("a tensor offset");
    if (!offset) return offset.error();
    t.offset = *offset;
    if (t.offset % g.alignment != 0)
      return err("{}: tensor '{}' offset {} is not a multiple of the alignment {}", label, t.name, t.offset,
                 g.alignment);
    auto nbytes = gguf_tensor_bytes(t.type, t.ne);
    if (!nbytes) return err("{}: tensor '{}': {}", label, t.name, nbytes.message());
    t.nbytes = *nbytes;
    g.tensors.push_back(std::move(t));
  }
  g.data_start = gguf_pad(c.pos(), g.alignment);
  for (const GgufTensorInfo& t : g.tensors) {
    if (g.data_start > size || t.offset > size - g.data_start || t.nbytes > size - g.data_start - t.offset)
      return err("{}: tensor '{}' (offset {}, {} bytes) lies past the end of the file ({} bytes)", label, t.name,
                 t.offset, t.nbytes, size);
  }
  return g;
}

Result<GgufFile> GgufFile::open(const std::string& path) {
  GgufFile f;
  auto mapped = MappedFile::open(path);
  if (!mapped) return mapped.error();
  f.file_ = std::move(*mapped);
  auto contents = parse_gguf(f.file_.data(), f.file_.size(), path);
  if (!contents) return contents.error();
  f.contents_ = std::move(*contents);
  return f;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const GgufTensorInfo& t : contents_.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

std::span<const uint8_t> GgufFile::data(const GgufTensorInfo& t) const {
  return {file_.data() + contents_.data_start + t.offset, static_cast<size_t>(t.nbytes)};
}

Result<std::vector<float>> GgufFile::dequantize(const GgufTensorInfo& t) const {
  int64_t rows = 1;
  for (size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
  std::vector<float> out(static_cast<size_t>(rows * t.ne[0]));
  auto st = dequantize_rows(t.type, data(t).data(), rows, t.ne[0], out.data());
  if (!st) return err("{}: tensor '{}': {}", path(), t.name, st.message());
  return out;
}

}  // namespace ql::io::gguf
