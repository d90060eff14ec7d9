#include "core/model/bnb_quant_state.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/model/json_fields.h"
#include "core/quant/nf4.h"

namespace ql::model {
namespace {

using nlohmann::json;

Result<quant::SourceDType> source_dtype(const std::string& name, const std::string& who) {
  for (quant::SourceDType d : {quant::SourceDType::kBF16, quant::SourceDType::kF16, quant::SourceDType::kF32})
    if (name == quant::torch_dtype_name(d)) return d;
  return err("{}: \"dtype\": {} is not bfloat16, float16 or float32", who, quote(name));
}

// A required key of the expected JSON type.
Result<const json*> key(const json& obj, const char* name, json::value_t type, const char* type_name,
                        const std::string& who) {
  const auto it = obj.find(name);
  if (it == obj.end()) return err("{}: \"{}\" is missing", who, name);
  const bool number_ok = type == json::value_t::number_float && it->is_number();
  const bool int_ok = type == json::value_t::number_integer && it->is_number_integer();
  if (!(it->type() == type || number_ok || int_ok))
    return err("{}: \"{}\": expected {}, got {}", who, name, type_name, describe_json_type(*it));
  return &*it;
}

Status expect_int(const json& obj, const char* name, int64_t want, const std::string& who, const char* why) {
  QL_ASSIGN_OR_RETURN(const json* v, key(obj, name, json::value_t::number_integer, "an integer", who));
  int64_t got = 0;
  if (!json_to_int64(*v, got) || got != want)
    return err("{}: \"{}\" is {}, expected {} ({})", who, name, brief(*v), want, why);
  return {};
}

}  // namespace

Result<Nf4QuantState> parse_nf4_quant_state(std::string_view json_text, const std::string& tensor, int64_t rows,
                                            int64_t cols) {
  const std::string who = fmt::format("{}: quant state", tensor);
  json j;
  try {
    j = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    return err("{}: not valid JSON: {}", who, e.what());
  }
  if (!j.is_object()) return err("{}: expected a JSON object, got {}", who, describe_json_type(j));

  QL_ASSIGN_OR_RETURN(const json* type, key(j, "quant_type", json::value_t::string, "a string", who));
  if (type->get_ref<const std::string&>() != "nf4")
    return err("{}: \"quant_type\" is {}; QuantLens reads nf4 only", who, quote(type->get_ref<const std::string&>()));
  QL_TRY(expect_int(j, "blocksize", quant::kNf4BlockSize, who, "NF4 blocks of 64"));

  Nf4QuantState s;
  QL_ASSIGN_OR_RETURN(const json* dtype, key(j, "dtype", json::value_t::string, "a string", who));
  QL_ASSIGN_OR_RETURN(s.dtype, source_dtype(dtype->get<std::string>(), who));

  QL_ASSIGN_OR_RETURN(const json* shape, key(j, "shape", json::value_t::array, "a list", who));
  int64_t r = -1, c = -1;
  if (shape->size() != 2 || !json_to_int64((*shape)[0], r) || !json_to_int64((*shape)[1], c) || r != rows || c != cols)
    return err("{}: \"shape\" is {}, expected [{}, {}] (the module's [out, in])", who, brief(*shape), rows, cols);
  s.rows = r;
  s.cols = c;

  if (!j.contains("nested_offset"))
    return err("{}: no \"nested_offset\": the absmax is not double-quantized, which QuantLens does not read", who);
  QL_TRY(expect_int(j, "nested_blocksize", quant::kNf4NestedBlockSize, who, "double quantization in blocks of 256"));
  QL_ASSIGN_OR_RETURN(const json* nested_dtype, key(j, "nested_dtype", json::value_t::string, "a string", who));
  if (nested_dtype->get_ref<const std::string&>() != "float32")
    return err("{}: \"nested_dtype\" is {}, expected \"float32\"", who,
               quote(nested_dtype->get_ref<const std::string&>()));
  QL_ASSIGN_OR_RETURN(const json* offset, key(j, "nested_offset", json::value_t::number_float, "a number", who));
  const double d = offset->get<double>();
  s.nested_offset = static_cast<float>(d);
  // Written as the fp32 mean widened to a double, so it converts back exactly.
  if (!std::isfinite(d) || static_cast<double>(s.nested_offset) != d)
    return err("{}: \"nested_offset\" {} is not a finite fp32 value", who, brief(*offset));
  return s;
}

}  // namespace ql::model
