#include "core/io/gguf/gguf_value.h"

namespace ql::io::gguf {

std::string_view gguf_value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8: return "UINT8";
    case GgufValueType::kInt8: return "INT8";
    case GgufValueType::kUint16: return "UINT16";
    case GgufValueType::kInt16: return "INT16";
    case GgufValueType::kUint32: return "UINT32";
    case GgufValueType::kInt32: return "INT32";
    case GgufValueType::kFloat32: return "FLOAT32";
    case GgufValueType::kBool: return "BOOL";
    case GgufValueType::kString: return "STRING";
    case GgufValueType::kArray: return "ARRAY";
    case GgufValueType::kUint64: return "UINT64";
    case GgufValueType::kInt64: return "INT64";
    case GgufValueType::kFloat64: return "FLOAT64";
  }
  return "?";
}

size_t gguf_scalar_size(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool: return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16: return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32: return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64: return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray: return 0;
  }
  return 0;
}

bool is_gguf_value_type(uint32_t id) { return id <= static_cast<uint32_t>(GgufValueType::kFloat64); }

size_t GgufValue::count() const {
  switch (element_type()) {
    case GgufValueType::kString: return strings.size();
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64: return floats.size();
    default: return ints.size();
  }
}

const std::string& GgufValue::as_string() const {
  static const std::string kEmpty;
  return strings.empty() ? kEmpty : strings[0];
}

GgufValue GgufValue::u32(uint32_t v) {
  GgufValue g;
  g.type = GgufValueType::kUint32;
  g.ints = {v};
  return g;
}

GgufValue GgufValue::i32(int32_t v) {
  GgufValue g;
  g.type = GgufValueType::kInt32;
  g.ints = {static_cast<uint64_t>(static_cast<int64_t>(v))};
  return g;
}

GgufValue GgufValue::f32(float v) {
  GgufValue g;
  g.type = GgufValueType::kFloat32;
  g.floats = {v};
  return g;
}

GgufValue GgufValue::boolean(bool v) {
  GgufValue g;
  g.type = GgufValueType::kBool;
  g.ints = {v ? 1u : 0u};
  return g;
}

GgufValue GgufValue::string(std::string v) {
  GgufValue g;
  g.type = GgufValueType::kString;
  g.strings = {std::move(v)};
  return g;
}

GgufValue GgufValue::array_i32(const std::vector<int32_t>& v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.array_type = GgufValueType::kInt32;
  g.ints.reserve(v.size());
  for (int32_t x : v) g.ints.push_back(static_cast<uint64_t>(static_cast<int64_t>(x)));
  return g;
}

GgufValue GgufValue::array_f32(const std::vector<float>& v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.array_type = GgufValueType::kFloat32;
  g.floats.assign(v.begin(), v.end());
  return g;
}

GgufValue GgufValue::array_bool(const std::vector<bool>& v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.array_type = GgufValueType::kBool;
  for (bool b : v) g.ints.push_back(b ? 1u : 0u);
  return g;
}

GgufValue GgufValue::array_string(std::vector<std::string> v) {
  GgufValue g;
  g.type = GgufValueType::kArray;
  g.array_type = GgufValueType::kString;
  g.strings = std::move(v);
  return g;
}

const GgufValue* find_kv(const std::vector<GgufKv>& kvs, std::string_view key) {
  for (const GgufKv& kv : kvs)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

}  // namespace ql::io::gguf
