#include "core/model/weight_upload.h"

#include <spdlog/spdlog.h>

#include "core/backend/quantized_format.h"

namespace ql::model {
namespace {

// Float dtypes only: upload() refuses the integer ones first.
backend::WeightFormat backend_format_of(DType t) {
  switch (t) {
    case DType::kBF16: return backend::WeightFormat::kBF16;
    case DType::kF16: return backend::WeightFormat::kF16;
    default: return backend::WeightFormat::kF32;
  }
}

quant::SourceDType source_dtype_of(DType t) {
  switch (t) {
    case DType::kBF16: return quant::SourceDType::kBF16;
    case DType::kF16: return quant::SourceDType::kF16;
    default: return quant::SourceDType::kF32;
  }
}

// A 16-bit format equal to the checkpoint's dtype needs no conversion.
bool is_stored_format(quant::QuantFormat f, DType stored) {
  return (f == quant::QuantFormat::kBF16 && stored == DType::kBF16) ||
         (f == quant::QuantFormat::kF16 && stored == DType::kF16);
}

const void* first_byte(const SourceMatrix& m) {
  return m.tensor->data + static_cast<size_t>(m.first_element) * dtype_size(m.tensor->dtype);
}

// An overflow is a broken weight (warn); a few flushed tiny values are normal
// in real checkpoints and only summed up at the end (load_model_weights).
void log_fp16_losses(const std::string& name, const quant::Dense16Report& r) {
  if (r.overflowed_to_inf > 0)
    spdlog::warn("{}: {} values beyond fp16's range (65504) became infinite", name, r.overflowed_to_inf);
  if (r.flushed_to_zero > 0)
    spdlog::debug("{}: {} values below fp16's smallest subnormal (6e-8) became zero", name, r.flushed_to_zero);
}

}  // namespace

Result<backend::WeightPtr> WeightUploader::upload(const SourceMatrix& m, std::optional<quant::QuantFormat> format) {
  // I8/U8 tensors are parts of bitsandbytes modules (upload_prequantized);
  // validation keeps them from getting here, this keeps the promise local.
  if (!is_float_dtype(m.tensor->dtype))
    return err("{}: stored as {}, which is read only as part of a bitsandbytes module", m.name,
               dtype_name(m.tensor->dtype));
  if (!format || is_stored_format(*format, m.tensor->dtype)) return finish(upload_as_stored(m));
  return finish(upload_converted(m, *format));
}

Result<backend::WeightPtr> WeightUploader::upload_as_stored(const SourceMatrix& m) {
  backend::HostWeight hw;
  hw.format = backend_format_of(m.tensor->dtype);
  hw.rows = m.rows;
  hw.cols = m.cols;
  hw.data = first_byte(m);
  hw.transposed = m.transposed;
  hw.name = m.name;
  return backend_.upload_weight(hw);
}

Result<backend::WeightPtr> WeightUploader::upload_converted(const SourceMatrix& m, quant::QuantFormat format) {
  quant::SourceTensor src{m.name, source_dtype_of(m.tensor->dtype), first_byte(m), m.rows, m.cols, m.transposed};
  quant::Dense16Report losses;
  auto converted = quant::quantize(src, format, threads_, &losses);
  if (!converted) return converted.error();
  if (format == quant::QuantFormat::kF16) {
    log_fp16_losses(m.name, losses);
    fp16_losses_.overflowed_to_inf += losses.overflowed_to_inf;
    fp16_losses_.flushed_to_zero += losses.flushed_to_zero;
    fp16_losses_.became_subnormal += losses.became_subnormal;
    ++fp16_tensors_;
  }
  backend::HostWeight hw;
  hw.format = backend::weight_format_for(format);
  hw.rows = m.rows;
  hw.cols = m.cols;
  hw.quantized = std::move(converted).value();
  hw.name = m.name;
  return backend_.upload_weight(hw);
}

Result<backend::WeightPtr> WeightUploader::upload_prequantized(const std::string& name,
                                                               quant::QuantizedWeightPtr weight) {
  backend::HostWeight hw;
  hw.format = backend::weight_format_for(weight->format());
  hw.rows = weight->rows();
  hw.cols = weight->cols();
  hw.quantized = std::move(weight);
  hw.name = name;
  return finish(backend_.upload_weight(hw));
}

Result<backend::WeightPtr> WeightUploader::finish(Result<backend::WeightPtr> uploaded) {
  if (uploaded) stored_bytes_ += (*uploaded)->stored_bytes();
  return uploaded;
}

}  // namespace ql::model
