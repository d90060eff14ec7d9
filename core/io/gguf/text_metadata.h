#pragma once
// The qwen3vlmoe.* architecture keys of the text GGUF, general.file_type and
// general.quantization_version, in the converter's order (docs/formats.md §4.1;
// TextModel / Qwen2MoeModel / Qwen3VLMoeTextModel.set_gguf_parameters).
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/result.h"
#include "core/io/gguf/ggml_types.h"
#include "core/io/gguf/gguf_value.h"

namespace ql::io::gguf {

inline constexpr const char* kTextArch = "qwen3vlmoe";
inline constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION

// Errors name config.json's missing block count.
Result<std::vector<GgufKv>> text_arch_metadata(const nlohmann::json& config, const std::string& config_path,
                                               LlamaFtype ftype);

}  // namespace ql::io::gguf
