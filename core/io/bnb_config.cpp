#include "core/io/bnb_config.h"

#include "core/io/companion_files.h"

namespace ql::io {

nlohmann::json bnb_quantization_config(quant::QuantFormat format, const std::string& dtype16) {
  const bool nf4 = format == quant::QuantFormat::kNf4;
  // Every key of to_dict(), the 4-bit ones at their defaults for int8
  // (compute dtype float32, fp4, no double quantization), so the file reads
  // as transformers would have written it. nlohmann's object sorts keys, as
  // transformers' json.dumps(sort_keys=True) does.
  return nlohmann::json{
      {"_load_in_4bit", nf4},
      {"_load_in_8bit", !nf4},
      {"bnb_4bit_compute_dtype", nf4 ? dtype16 : "float32"},
      {"bnb_4bit_quant_storage", "uint8"},
      {"bnb_4bit_quant_type", nf4 ? "nf4" : "fp4"},
      {"bnb_4bit_use_double_quant", nf4},
      {"llm_int8_enable_fp32_cpu_offload", false},
      {"llm_int8_has_fp16_weight", false},
      {"llm_int8_skip_modules", nullptr},  // null: transformers' default, ["lm_head"] for this model
      {"llm_int8_threshold", 6.0},
      {"load_in_4bit", nf4},
      {"load_in_8bit", !nf4},
      {"quant_method", "bitsandbytes"},
  };
}

Result<nlohmann::json> bnb_export_config(const std::string& model_dir, quant::QuantFormat format,
                                         const std::string& dtype16) {
  QL_ASSIGN_OR_RETURN(nlohmann::json config, read_source_config(model_dir));
  set_config_dtype(config, dtype16);
  config["quantization_config"] = bnb_quantization_config(format, dtype16);
  return config;
}

}  // namespace ql::io
