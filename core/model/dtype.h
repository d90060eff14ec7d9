#pragma once
// Element types of checkpoint tensors: the float types the engine converts,
// plus I8 and U8, which only bitsandbytes checkpoints use (int8 codes, packed
// NF4 nibbles, absmax codes, quant-state JSON: model/bnb_layout.h). Other
// safetensors dtypes are refused at parse time; an I8/U8 tensor anywhere else
// is refused by tensor validation (its dtype is not the config's).
#include <cstddef>
#include <optional>
#include <string_view>

namespace ql::model {

enum class DType { kBF16, kF16, kF32, kI8, kU8 };

// Safetensors spelling: "BF16", "F16", "F32", "I8", "U8".
std::string_view dtype_name(DType t);
size_t dtype_size(DType t);
bool is_float_dtype(DType t);  // BF16, F16, F32

// nullopt for any other string (unsupported or unknown: see is_known_safetensors_dtype).
std::optional<DType> dtype_from_safetensors(std::string_view s);
// True for every dtype string of the safetensors format (docs/formats.md §1.1), supported or not.
bool is_known_safetensors_dtype(std::string_view s);

// config.json spelling ("bfloat16", "float16", "float32"); nullopt otherwise.
std::optional<DType> dtype_from_torch_name(std::string_view s);

}  // namespace ql::model
