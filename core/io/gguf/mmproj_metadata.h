#pragma once
// The clip.* keys of the vision projector GGUF (docs/formats.md §5.1;
// MmprojModel / Qwen3VLVisionModel.set_gguf_parameters), after the general.*
// keys, in the converter's order, with general.file_type first and
// general.quantization_version last.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/result.h"
#include "core/io/gguf/ggml_types.h"
#include "core/io/gguf/gguf_value.h"

namespace ql::io::gguf {

inline constexpr const char* kMmprojArch = "clip";

// `config` is config.json, `preprocessor` preprocessor_config.json (merged
// with processor_config.json's image_processor when that file exists).
// Errors name the missing field.
Result<std::vector<GgufKv>> mmproj_metadata(const nlohmann::json& config, const nlohmann::json& preprocessor,
                                            const std::string& model_dir, LlamaFtype ftype);

// preprocessor_config.json merged as the converter merges it.
Result<nlohmann::json> load_preprocessor_config(const std::string& model_dir);

}  // namespace ql::io::gguf
