#pragma once
// GGUF metadata values (docs/formats.md §2.1): the 13 value types, scalars and
// one-level arrays, held in one small struct that the writer encodes and the
// reader decodes. A scalar is stored as a one-element list internally.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ql::io::gguf {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

std::string_view gguf_value_type_name(GgufValueType type);  // "UINT32", "ARRAY", ...
// Encoded size of one scalar of a fixed-size type; 0 for STRING and ARRAY.
size_t gguf_scalar_size(GgufValueType type);
bool is_gguf_value_type(uint32_t id);

struct GgufValue {
  GgufValueType type = GgufValueType::kUint32;
  GgufValueType array_type = GgufValueType::kUint32;  // element type when type == kArray
  // Exactly one of these holds the element(s), by element type:
  std::vector<uint64_t> ints;        // integers (signed ones as two's complement) and bools
  std::vector<double> floats;        // FLOAT32 / FLOAT64
  std::vector<std::string> strings;  // STRING

  GgufValueType element_type() const { return type == GgufValueType::kArray ? array_type : type; }
  size_t count() const;

  // Scalar readers (the first element); no type check beyond the family.
  uint64_t as_u64() const { return ints.empty() ? 0 : ints[0]; }
  int64_t as_i64() const { return static_cast<int64_t>(as_u64()); }
  double as_f64() const { return floats.empty() ? 0.0 : floats[0]; }
  bool as_bool() const { return as_u64() != 0; }
  const std::string& as_string() const;

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue array_i32(const std::vector<int32_t>& v);
  static GgufValue array_f32(const std::vector<float>& v);
  static GgufValue array_bool(const std::vector<bool>& v);
  static GgufValue array_string(std::vector<std::string> v);
};

struct GgufKv {
  std::string key;
  GgufValue value;
};

// The value of `key` in `kvs`, or null.
const GgufValue* find_kv(const std::vector<GgufKv>& kvs, std::string_view key);

}  // namespace ql::io::gguf
