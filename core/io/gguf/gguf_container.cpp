#include "core/io/gguf/gguf_container.h"

#include <cstring>
#include <set>

#include "core/model/safetensors.h"

namespace ql::io::gguf {
namespace {

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // the file is little-endian, as is every machine we build for
  out.append(b, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

void put_element(std::string& out, GgufValueType type, const GgufValue& v, size_t i) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool: put<uint8_t>(out, static_cast<uint8_t>(v.ints[i])); break;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16: put<uint16_t>(out, static_cast<uint16_t>(v.ints[i])); break;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32: put<uint32_t>(out, static_cast<uint32_t>(v.ints[i])); break;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64: put<uint64_t>(out, v.ints[i]); break;
    case GgufValueType::kFloat32: put<float>(out, static_cast<float>(v.floats[i])); break;
    case GgufValueType::kFloat64: put<double>(out, v.floats[i]); break;
    case GgufValueType::kString: put_string(out, v.strings[i]); break;
    case GgufValueType::kArray: break;  // nested arrays are not produced
  }
}

uint32_t alignment_of(const std::vector<GgufKv>& kvs) {
  const GgufValue* a = find_kv(kvs, "general.alignment");
  return a ? static_cast<uint32_t>(a->as_u64()) : kGgufDefaultAlignment;
}

}  // namespace

Result<uint64_t> gguf_tensor_bytes(GgmlType type, const std::vector<int64_t>& ne) {
  if (ne.empty() || ne.size() > static_cast<size_t>(kGgufMaxDims))
    return err("shape {} has {} dimensions (GGUF takes 1 to 4)", model::format_shape(ne), ne.size());
  for (int64_t n : ne)
    if (n <= 0) return err("shape {} has an empty dimension", model::format_shape(ne));
  auto row = ggml_row_bytes(type, ne[0]);
  if (!row) return err("shape {} as {}: {}", model::format_shape(ne), ggml_type_name(type), row.message());
  uint64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= static_cast<uint64_t>(ne[i]);
  return *row * rows;
}

void append_gguf_value(std::string& out, const GgufValue& value) {
  if (value.type == GgufValueType::kArray) {
    put<uint32_t>(out, static_cast<uint32_t>(value.array_type));
    put<uint64_t>(out, value.count());
    for (size_t i = 0; i < value.count(); ++i) put_element(out, value.array_type, value, i);
    return;
  }
  put_element(out, value.type, value, 0);
}

Result<GgufHeader> encode_gguf_header(const std::vector<GgufKv>& kvs, std::vector<GgufTensorInfo>& tensors) {
  GgufHeader h;
  h.alignment = alignment_of(kvs);
  if (h.alignment == 0 || (h.alignment & (h.alignment - 1)) != 0)
    return err("general.alignment {} is not a power of two", h.alignment);

  std::string& out = h.bytes;
  put<uint32_t>(out, kGgufMagic);
  put<uint32_t>(out, kGgufVersion);
  put<uint64_t>(out, tensors.size());
  put<uint64_t>(out, kvs.size());

  std::set<std::string> keys;
  for (const GgufKv& kv : kvs) {
    if (kv.key.empty() || kv.key.size() > 65535) return err("metadata key '{}': empty or too long", kv.key);
    if (!keys.insert(kv.key).second) return err("metadata key '{}' appears twice", kv.key);
    if (kv.value.count() == 0) return err("metadata key '{}' has no value", kv.key);
    put_string(out, kv.key);
    put<uint32_t>(out, static_cast<uint32_t>(kv.value.type));
    append_gguf_value(out, kv.value);
  }

  std::set<std::string> names;
  uint64_t offset = 0;
  for (GgufTensorInfo& t : tensors) {
    if (t.name.empty() || t.name.size() > kGgufMaxNameBytes)
      return err("tensor name '{}' is empty or longer than {} bytes", t.name, kGgufMaxNameBytes);
    if (!names.insert(t.name).second) return err("tensor '{}' appears twice", t.name);
    auto bytes = gguf_tensor_bytes(t.type, t.ne);
    if (!bytes) return err("tensor '{}': {}", t.name, bytes.message());
    t.nbytes = *bytes;
    t.offset = offset;
    offset += gguf_pad(t.nbytes, h.alignment);

    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
    for (int64_t n : t.ne) put<uint64_t>(out, static_cast<uint64_t>(n));
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, t.offset);
  }
  out.resize(gguf_pad(out.size(), h.alignment), '\0');
  h.data_bytes = offset;
  return h;
}

}  // namespace ql::io::gguf
