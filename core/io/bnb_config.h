#pragma once
// config.json of a bitsandbytes export (docs/formats.md §6.4): the source's config
// with "quantization_config" = the whole BitsAndBytesConfig.to_dict() that
// transformers' save_pretrained writes, and the dtype of the tensors that
// stay 16-bit declared where transformers reads it.
#include <string>

#include <nlohmann/json.hpp>

#include "core/common/result.h"
#include "core/quant/quantized_weight.h"

namespace ql::io {

// BitsAndBytesConfig(load_in_8bit=True).to_dict() for kInt8Rowwise;
// BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
// bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=<dtype16>).to_dict()
// for kNf4. `dtype16`: "bfloat16" or "float16", the export's 16-bit dtype.
nlohmann::json bnb_quantization_config(quant::QuantFormat format, const std::string& dtype16);

// The source folder's config.json with the two changes above.
Result<nlohmann::json> bnb_export_config(const std::string& model_dir, quant::QuantFormat format,
                                         const std::string& dtype16);

}  // namespace ql::io
