#include "core/model/dtype.h"

#include <array>

namespace ql::model {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kBF16: return "BF16";
    case DType::kF16: return "F16";
    case DType::kF32: return "F32";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kBF16:
    case DType::kF16: return 2;
    case DType::kI8:
    case DType::kU8: return 1;
  }
  return 0;
}

bool is_float_dtype(DType t) { return t == DType::kBF16 || t == DType::kF16 || t == DType::kF32; }

std::optional<DType> dtype_from_safetensors(std::string_view s) {
  if (s == "BF16") return DType::kBF16;
  if (s == "F16") return DType::kF16;
  if (s == "F32") return DType::kF32;
  if (s == "I8") return DType::kI8;
  if (s == "U8") return DType::kU8;
  return std::nullopt;
}

bool is_known_safetensors_dtype(std::string_view s) {
  static constexpr std::array<std::string_view, 22> kAll = {
      "BOOL", "U8",  "I8",  "I16", "U16",     "F16",     "BF16",        "I32",
      "U32",  "F32", "F64", "I64", "U64",     "C64",     "F8_E5M2",     "F8_E4M3",
      "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2"};
  for (auto k : kAll)
    if (k == s) return true;
  return false;
}

std::optional<DType> dtype_from_torch_name(std::string_view s) {
  if (s == "bfloat16") return DType::kBF16;
  if (s == "float16") return DType::kF16;
  if (s == "float32") return DType::kF32;
  return std::nullopt;
}

}  // namespace ql::model
