#pragma once
// The files that make an exported folder complete besides its weights
// (issue 6 point 2, docs/formats.md §8): config.json (possibly changed: dtype,
// quantization_config), generation_config.json, preprocessor and video
// preprocessor configs, tokenizer.json / tokenizer_config.json (from the
// folder, else the tokenizer QuantLens uses for it), chat template files.
// Each is written atomically; the source folder is only read.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/result.h"
#include "core/io/export.h"

namespace ql::io {

// The files copied as they are when the source folder has them, in this
// order. Those marked `expected` get a note in the result when absent
// (a loader or converter will miss them); the others are skipped silently.
struct CompanionFile {
  const char* name;
  bool expected;
};
const std::vector<CompanionFile>& companion_file_list();

// The source's config.json, parsed (errors name the file).
Result<nlohmann::json> read_source_config(const std::string& model_dir);

// Sets the declared weight dtype ("bfloat16", "float16") where transformers
// reads it: text_config.dtype (the published place), and every "dtype" or
// "torch_dtype" key already present at the top level or in text_config /
// vision_config, so no stale spelling contradicts the written tensors.
void set_config_dtype(nlohmann::json& config, const std::string& torch_dtype);

// config.json as transformers writes it: indent 2, sorted keys, trailing newline.
std::string config_json_text(const nlohmann::json& config);

// Writes `config` as out_dir/config.json and copies every companion file the
// source has (companion_file_list()); tokenizer.json comes from the folder,
// else from where QuantLens finds it (core/text/tokenizer_location.h), with a
// note. Appends what it wrote to result.files. config.json is written last,
// so a folder left by a crash is never mistaken for a complete model.
Status write_companion_files(const std::string& model_dir, const std::string& out_dir, const nlohmann::json& config,
                             ExportResult& result);

// Bytes those files will take (for estimates).
Result<uint64_t> companion_files_bytes(const std::string& model_dir, const nlohmann::json& config);

}  // namespace ql::io
