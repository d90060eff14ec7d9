#include "core/model/bnb_validation.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/model/bnb_layout.h"
#include "core/model/bnb_modules.h"
#include "core/model/bnb_quant_state.h"
#include "core/model/json_fields.h"

namespace ql::model {
namespace {

std::string describe(const BnbTensorSpec& s) {
  if (s.role == BnbRole::kQuantState) return fmt::format("{} [JSON bytes]", dtype_name(s.dtype));
  return fmt::format("{} {}", dtype_name(s.dtype), format_shape(s.shape));
}

bool shape_fits(const BnbTensorSpec& s, const TensorView& t) {
  if (s.role == BnbRole::kQuantState) return t.shape.size() == 1 && t.shape[0] > 0;
  return std::equal(t.shape.begin(), t.shape.end(), s.shape.begin(), s.shape.end());
}

// What a tensor with the right dtype and shape must also hold.
void check_contents(const BnbTensorSpec& s, const TensorView& t, const BnbModule& m, const std::string& what,
                    ValidationReport& r) {
  if (s.role == BnbRole::kWeightFormat && t.data[0] != 0) {
    ++r.invalid;
    r.problems.push_back(fmt::format("{}: weight_format is {}, expected 0 (\"row\", the only layout bitsandbytes "
                                     "writes) ({})",
                                     s.name, static_cast<int>(t.data[0]), what));
  }
  if (s.role == BnbRole::kQuantState) {
    const std::string_view text(reinterpret_cast<const char*>(t.data), t.nbytes);
    if (auto state = parse_nf4_quant_state(text, s.name, m.rows, m.cols); !state) {
      ++r.invalid;
      r.problems.push_back(fmt::format("{} ({})", state.message(), what));
    }
  }
}

void check_module(const Checkpoint& ckpt, const BnbModule& m, const BnbQuantization& q, ValidationReport& r,
                  std::vector<std::string>& names) {
  const std::string what = fmt::format("bitsandbytes {} module {}", bnb_format_name(q), m.name);
  const auto specs = bnb_module_tensors(q.format, m.name, m.rows, m.cols);
  for (const auto& s : specs) names.push_back(s.name);
  // A tied lm_head may be absent altogether (tensor_schema.h).
  if (m.weight->optional && !ckpt.find(specs.front().name)) return;

  if (q.format == quant::QuantFormat::kNf4 && ckpt.find(m.name + kFp4QuantStateSuffix)) {
    names.push_back(m.name + kFp4QuantStateSuffix);
    ++r.invalid;
    r.problems.push_back(fmt::format("{}{}: quant type fp4 is not supported; QuantLens reads nf4 only ({})", m.name,
                                     kFp4QuantStateSuffix, what));
  }
  for (const auto& s : specs) {
    const auto t = ckpt.find(s.name);
    if (!t) {
      if (s.optional) continue;
      ++r.missing;
      r.problems.push_back(fmt::format("{}: missing (expected {}), a tensor of {}", s.name, describe(s), what));
      continue;
    }
    ++r.checked;
    bool ok = true;
    if (t->dtype != s.dtype) {
      ok = false;
      ++r.wrong_dtype;
      const bool plain_absmax = s.role == BnbRole::kAbsmaxCodes && t->dtype == DType::kF32;
      r.problems.push_back(fmt::format("{}: dtype {}, expected {} ({}){}", s.name, dtype_name(t->dtype),
                                       dtype_name(s.dtype), what,
                                       plain_absmax ? "; an F32 absmax means no double quantization, which QuantLens "
                                                      "does not read"
                                                    : ""));
    }
    if (!shape_fits(s, *t)) {
      ok = false;
      ++r.misshaped;
      r.problems.push_back(
          fmt::format("{}: shape {}, expected {} ({})", s.name, format_shape(t->shape), describe(s), what));
    }
    if (ok) check_contents(s, *t, m, what, r);
  }
}

}  // namespace

ValidationReport validate_bnb_checkpoint(const Checkpoint& checkpoint, const ModelConfig& config,
                                         const BnbQuantization& quantization) {
  const std::vector<TensorSpec> schema = build_tensor_schema(config);
  const std::vector<BnbModule> modules = bnb_quantized_modules(schema, quantization.skip_modules);
  std::vector<TensorSpec> plain;  // the schema without the quantized weights
  size_t next = 0;
  for (const TensorSpec& spec : schema) {
    if (next < modules.size() && modules[next].weight == &spec) {
      ++next;
      continue;
    }
    plain.push_back(spec);
  }
  ValidationReport module_report;
  std::vector<std::string> module_tensors;
  for (const BnbModule& m : modules) check_module(checkpoint, m, quantization, module_report, module_tensors);

  ValidationReport r = validate_checkpoint(checkpoint, plain, config.dtype, module_tensors);
  r.problems.insert(r.problems.end(), module_report.problems.begin(), module_report.problems.end());
  r.missing += module_report.missing;
  r.wrong_dtype += module_report.wrong_dtype;
  r.misshaped += module_report.misshaped;
  r.invalid += module_report.invalid;
  r.checked += module_report.checked;
  return r;
}

ValidationReport validate_model_checkpoint(const Checkpoint& checkpoint, const ModelConfig& config) {
  if (config.quantization) return validate_bnb_checkpoint(checkpoint, config, *config.quantization);
  return validate_checkpoint(checkpoint, build_tensor_schema(config), config.dtype);
}

}  // namespace ql::model
