#pragma once
// The "quantization_config" of a bitsandbytes checkpoint folder, as
// transformers writes it into config.json with save_pretrained (docs/formats.md
// §6.4): LLM.int8 (load_in_8bit) or 4-bit NF4 with double quantization
// (load_in_4bit, bnb_4bit_quant_type "nf4", bnb_4bit_use_double_quant). These
// are the two layouts QuantLens reads and writes; anything else that
// bitsandbytes can save (FP4, NF4 without double quantization, int8 with fp16
// weights kept) is refused with the field at fault, never half-read.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/result.h"
#include "core/quant/quantized_weight.h"

namespace ql::model {

struct BnbQuantization {
  quant::QuantFormat format = quant::QuantFormat::kInt8Rowwise;  // kInt8Rowwise or kNf4
  // Modules left 16-bit (llm_int8_skip_modules), matched as in docs/formats.md §6.1;
  // ["lm_head"] when the config gives none (transformers' default for this model).
  std::vector<std::string> skip_modules;
  bool skip_modules_from_config = false;
  // LLM.int8's outlier threshold on activations. Recorded only: the CPU
  // backend multiplies int8 weights with its own setting (6.0, the default).
  double int8_threshold = 6.0;
};

// "int8" or "nf4".
const char* bnb_format_name(const BnbQuantization& q);

// The modules transformers skips by default for Qwen3-VL-MoE (§6.1).
std::vector<std::string> bnb_default_skip_modules();

// Reads root["quantization_config"] of config.json (`file` names it in
// errors): nullopt when absent. Errors: not an object, a quant_method other
// than "bitsandbytes", neither or both of load_in_8bit / load_in_4bit, a
// 4-bit type other than nf4, no double quantization, a quant storage other
// than uint8, llm_int8_has_fp16_weight, or a skip list that is not a list of
// strings.
Result<std::optional<BnbQuantization>> parse_bnb_quantization(const nlohmann::json& root, const std::string& file);

}  // namespace ql::model
