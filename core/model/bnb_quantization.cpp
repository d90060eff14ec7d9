#include "core/model/bnb_quantization.h"

#include <fmt/format.h>

#include "core/model/json_fields.h"

namespace ql::model {
namespace {

// transformers writes each flag twice: "load_in_4bit" (the property) and
// "_load_in_4bit" (its storage). Either may be alone; together they must agree.
Result<bool> load_flag(const JsonFields& q, const std::string& key) {
  const std::string hidden = "_" + key;
  QL_ASSIGN_OR_RETURN(bool shown, q.boolean_or(key, false));
  if (!q.has(hidden)) return shown;
  QL_ASSIGN_OR_RETURN(bool stored, q.boolean_or(hidden, false));
  if (q.has(key) && stored != shown)
    return q.invalid(hidden, fmt::format("{} disagrees with {} ({})", stored, q.path(key), shown));
  return stored;
}

Status check_nf4_settings(const JsonFields& q) {
  // BitsAndBytesConfig's defaults are fp4, no double quantization, uint8 storage.
  QL_ASSIGN_OR_RETURN(std::string type, q.string_or("bnb_4bit_quant_type", "fp4"));
  if (type != "nf4")
    return q.invalid("bnb_4bit_quant_type",
                     fmt::format("{} is not supported: QuantLens reads 4-bit bitsandbytes checkpoints in nf4 only",
                                 quote(type)));
  QL_ASSIGN_OR_RETURN(bool double_quant, q.boolean_or("bnb_4bit_use_double_quant", false));
  if (!double_quant)
    return q.invalid("bnb_4bit_use_double_quant",
                     "false is not supported: QuantLens's NF4 keeps the block absmax double-quantized (8-bit codes), "
                     "as bitsandbytes writes them with double quantization on");
  QL_ASSIGN_OR_RETURN(std::string storage, q.string_or("bnb_4bit_quant_storage", "uint8"));
  if (storage != "uint8")
    return q.invalid("bnb_4bit_quant_storage", fmt::format("{} is not supported (only uint8)", quote(storage)));
  return {};
}

Result<std::vector<std::string>> skip_list(const JsonFields& q, const nlohmann::json& obj) {
  const auto it = obj.find("llm_int8_skip_modules");
  std::vector<std::string> out;
  if (!it->is_array())
    return q.invalid("llm_int8_skip_modules",
                     fmt::format("expected null or a list of module names, got {}", describe_json_type(*it)));
  for (const auto& item : *it) {
    if (!item.is_string())
      return q.invalid("llm_int8_skip_modules",
                       fmt::format("expected a list of module names, found {}", describe_json_type(item)));
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

const char* bnb_format_name(const BnbQuantization& q) {
  return q.format == quant::QuantFormat::kNf4 ? "nf4" : "int8";
}

std::vector<std::string> bnb_default_skip_modules() { return {"lm_head"}; }

Result<std::optional<BnbQuantization>> parse_bnb_quantization(const nlohmann::json& root, const std::string& file) {
  const JsonFields top(root, file, "");
  if (!top.has("quantization_config")) return std::optional<BnbQuantization>();
  QL_ASSIGN_OR_RETURN(JsonFields q, top.object("quantization_config"));
  const nlohmann::json& obj = root.at("quantization_config");

  QL_ASSIGN_OR_RETURN(std::string method, q.string("quant_method"));
  if (method != "bitsandbytes")
    return q.invalid("quant_method", fmt::format("{} is not supported: QuantLens reads 16-bit checkpoints and "
                                                 "bitsandbytes ones (int8, nf4)",
                                                 quote(method)));
  QL_ASSIGN_OR_RETURN(bool in_8bit, load_flag(q, "load_in_8bit"));
  QL_ASSIGN_OR_RETURN(bool in_4bit, load_flag(q, "load_in_4bit"));
  if (in_8bit == in_4bit)
    return q.invalid("load_in_8bit", fmt::format("is {} and {} is {}: exactly one must be true", in_8bit,
                                                 q.path("load_in_4bit"), in_4bit));

  BnbQuantization b;
  if (in_4bit) {
    QL_TRY(check_nf4_settings(q));
    b.format = quant::QuantFormat::kNf4;
  } else {
    QL_ASSIGN_OR_RETURN(bool fp16_weight, q.boolean_or("llm_int8_has_fp16_weight", false));
    if (fp16_weight)
      return q.invalid("llm_int8_has_fp16_weight",
                       "true is not supported: such a checkpoint keeps 16-bit weights, not int8 codes");
    b.format = quant::QuantFormat::kInt8Rowwise;
  }
  QL_ASSIGN_OR_RETURN(b.int8_threshold, q.number_or("llm_int8_threshold", 6.0));
  if (q.has("llm_int8_skip_modules")) {  // null counts as absent
    QL_ASSIGN_OR_RETURN(b.skip_modules, skip_list(q, obj));
    b.skip_modules_from_config = true;
  } else {
    b.skip_modules = bnb_default_skip_modules();
  }
  return std::optional<BnbQuantization>(std::move(b));
}

}  // namespace ql::model
