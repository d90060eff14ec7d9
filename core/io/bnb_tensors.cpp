#include "core/io/bnb_tensors.h"

#include <algorithm>
#include <cmath>

#include "core/model/bnb_layout.h"
#include "core/quant/nf4_quant_state_json.h"

namespace ql::io {
namespace {

using model::BnbRole;

// safetensors stores little-endian, as this (x86-64 / arm64) host does.
template <typename T>
std::string raw_bytes(const T* data, size_t count) {
  return std::string(reinterpret_cast<const char*>(data), count * sizeof(T));
}

std::string companion_bytes(const quant::QuantizedWeight& w, BnbRole role, quant::QuantFormat format) {
  if (format == quant::QuantFormat::kInt8Rowwise) {
    const auto& s = *quant::stored_as<quant::Int8RowwiseWeight>(w);
    if (role == BnbRole::kScb) return raw_bytes(s.scb.data(), s.scb.size());
    return std::string(1, '\0');  // kWeightFormat: 0 = "row"
  }
  const auto& s = *quant::stored_as<quant::Nf4Weight>(w);
  switch (role) {
    case BnbRole::kAbsmaxCodes: return raw_bytes(s.absmax_codes.data(), s.absmax_codes.size());
    case BnbRole::kQuantMap: return raw_bytes(s.quant_map.data(), s.quant_map.size());
    case BnbRole::kNestedAbsmax: return raw_bytes(s.nested_absmax.data(), s.nested_absmax.size());
    case BnbRole::kNestedQuantMap: return raw_bytes(s.nested_quant_map.data(), s.nested_quant_map.size());
    case BnbRole::kQuantState: return quant::nf4_quant_state_json(s);
    default: return {};
  }
}

// Adds sum (w - x)^2 and sum x^2 of the decoded `w` against its source `src`,
// a block of rows at a time (memory stays near one block).
void add_errors(const quant::QuantizedWeight& w, const quant::SourceTensor& src, double& err_sq, double& src_sq) {
  const int64_t cols = src.cols, rows = src.rows;
  const int64_t block = std::max<int64_t>(1, (int64_t{1} << 16) / cols);
  std::vector<float> decoded, source;
  for (int64_t r = 0; r < rows; r += block) {
    const int64_t n = std::min(block, rows - r);
    decoded.resize(static_cast<size_t>(n * cols));
    source.resize(decoded.size());
    w.decode_rows(r, n, decoded.data());
    src.read_f32(r * cols, n * cols, source.data());
    for (size_t i = 0; i < decoded.size(); ++i) {
      const double d = static_cast<double>(decoded[i]) - source[i];
      err_sq += d * d;
      src_sq += static_cast<double>(source[i]) * source[i];
    }
  }
}

double ratio(double err_sq, double src_sq) { return src_sq > 0 ? std::sqrt(err_sq / src_sq) : 0.0; }

quant::SourceDType source_dtype_of(model::DType t) {
  if (t == model::DType::kBF16) return quant::SourceDType::kBF16;
  if (t == model::DType::kF16) return quant::SourceDType::kF16;
  return quant::SourceDType::kF32;
}

}  // namespace

Result<quant::SourceTensor> bnb_module_source(const model::Checkpoint& checkpoint, const model::BnbModule& module) {
  const auto view = checkpoint.find(module.weight->name);
  if (!view) return err("{}: tensor {} is missing", checkpoint.dir(), module.weight->name);
  if (!model::is_float_dtype(view->dtype) || view->shape.size() != 2 || view->shape[0] != module.rows ||
      view->shape[1] != module.cols)
    return err("{}: {} {}, expected a float [{}, {}] weight to quantize", module.weight->name,
               model::dtype_name(view->dtype), model::format_shape(view->shape), module.rows, module.cols);
  return quant::SourceTensor{module.weight->name, source_dtype_of(view->dtype), view->data, module.rows, module.cols};
}

Result<BnbModuleTensors> quantize_bnb_module(const model::Checkpoint& checkpoint, const model::BnbModule& module,
                                             quant::QuantFormat format, quant::SourceDType state_dtype, int threads) {
  QL_ASSIGN_OR_RETURN(quant::SourceTensor src, bnb_module_source(checkpoint, module));
  BnbModuleTensors out;
  if (format == quant::QuantFormat::kNf4) {
    QL_ASSIGN_OR_RETURN(quant::Nf4Weight w, quant::quantize_nf4(src, threads));
    w.dtype = state_dtype;  // only the cast after dequantizing; the codes come from the source values
    out.weight = std::make_unique<quant::FormatWeight<quant::Nf4Weight>>(std::move(w));
  } else {
    QL_ASSIGN_OR_RETURN(out.weight, quant::quantize(src, format, threads));
  }
  for (const auto& spec : model::bnb_module_tensors(format, module.name, module.rows, module.cols))
    if (spec.role != BnbRole::kCodes) out.companions[spec.name] = companion_bytes(*out.weight, spec.role, format);
  return out;
}

std::vector<SafetensorsEntry> bnb_module_entries(quant::QuantFormat format, const model::BnbModule& module,
                                                 int64_t quant_state_bytes) {
  std::vector<SafetensorsEntry> out;
  for (const auto& s : model::bnb_module_tensors(format, module.name, module.rows, module.cols, quant_state_bytes))
    out.push_back({s.name, std::string(model::dtype_name(s.dtype)), s.shape});
  return out;
}

int64_t max_nf4_quant_state_bytes(int64_t rows, int64_t cols, quant::SourceDType state_dtype) {
  quant::Nf4Weight w;
  w.rows = rows;
  w.cols = cols;
  w.dtype = state_dtype;
  w.offset = 0.0f;  // written "0.0": 3 characters of the at most 24 a repr takes
  return static_cast<int64_t>(quant::nf4_quant_state_json(w).size()) - 3 + 24;
}

std::string_view bnb_code_bytes(const quant::QuantizedWeight& weight) {
  if (const auto* s = quant::stored_as<quant::Int8RowwiseWeight>(weight))
    return {reinterpret_cast<const char*>(s->codes.data()), s->codes.size()};
  if (const auto* s = quant::stored_as<quant::Nf4Weight>(weight))
    return {reinterpret_cast<const char*>(s->packed.data()), s->packed.size()};
  return {};
}

double decoded_rel_rmse(const quant::QuantizedWeight& weight, const quant::SourceTensor& src) {
  double err_sq = 0, src_sq = 0;
  add_errors(weight, src, err_sq, src_sq);
  return ratio(err_sq, src_sq);
}

Result<double> inapp_rel_rmse(const quant::SourceTensor& src, quant::QuantFormat format, int parts, int threads) {
  if (parts < 1 || src.rows % parts != 0)
    return internal_err("{}: {} rows do not split into {} parts", src.name, src.rows, parts);
  const int64_t part_rows = src.rows / parts;
  const size_t element = src.dtype == quant::SourceDType::kF32 ? 4 : 2;
  double err_sq = 0, src_sq = 0;
  for (int p = 0; p < parts; ++p) {
    quant::SourceTensor part = src;
    part.data = static_cast<const unsigned char*>(src.data) + static_cast<size_t>(p * part_rows * src.cols) * element;
    part.rows = part_rows;
    QL_ASSIGN_OR_RETURN(quant::QuantizedWeightPtr w, quant::quantize(part, format, threads));
    add_errors(*w, part, err_sq, src_sq);
  }
  return ratio(err_sq, src_sq);
}

}  // namespace ql::io
