#pragma once
// Element types of checkpoint tensors. Only the float types the engine can
// convert are representable; other safetensors dtypes are refused at parse time.
#include <cstddef>
#include <optional>
#include <string_view>

namespace ql::model {

enum class DType { kBF16, kF16, kF32 };

// Safetensors spelling: "BF16", "F16", "F32".
std::string_view dtype_name(DType t);
size_t dtype_size(DType t);

// nullopt for any other string (unsupported or unknown: see is_known_safetensors_dtype).
std::optional<DType> dtype_from_safetensors(std::string_view s);
// True for every dtype string of the safetensors format (FORMATS.md §1.1), supported or not.
bool is_known_safetensors_dtype(std::string_view s);

// config.json spelling ("bfloat16", "float16", "float32"); nullopt otherwise.
std::optional<DType> dtype_from_torch_name(std::string_view s);

}  // namespace ql::model
