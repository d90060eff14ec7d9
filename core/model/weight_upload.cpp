#include "core/model/weight_upload.h"

#include <spdlog/spdlog.h>

#include "core/backend/quantized_format.h"
#include "core/quant/source_tensor.h"

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

// An overflow is a broken weight (warn); a few flushed tiny values are normal
// in real checkpoints and only summed up at the end (load_model_weights).
void log_fp16_losses(const std::string& name, const quant::Dense16Report& r) {
  if (r.overflowed_to_inf > 0)
    spdlog::warn("{}: {} values beyond fp16's range (65504) became infinite", name, r.overflowed_to_inf);
  if (r.flushed_to_zero > 0)
    spdlog::debug("{}: {} values below fp16's smallest subnormal (6e-8) became zero", name, r.flushed_to_zero);
}

quant::SourceDType source_dtype_of(DType t) {
  switch (t) {
    case DType::kBF16: return quant::SourceDType::kBF16;
    case DType::kF16: return quant::SourceDType::kF16;
    default: return quant::SourceDType::kF32;
  }
}

}  // namespace

Result<backend::WeightPtr> WeightUploader::upload(const SourceMatrix& m, std::optional<quant::QuantFormat> format) {
  // I8/U8 tensors are parts of bitsandbytes modules (upload_prequantized);
  // validation keeps them from getting here, this keeps the promise local.
  const SourceTensorRef& t = *m.tensor;
  if (!is_float_dtype(t.dtype))
    return err("{}: stored as {}, which is read only as part of a bitsandbytes module", m.name, dtype_name(t.dtype));
  backend::HostWeight hw;
  hw.rows = m.rows;
  hw.cols = m.cols;
  hw.stack = m.stack;
  hw.name = m.name;
  hw.source = backend_format_of(t.dtype);
  hw.target = format ? backend::weight_format_for(*format) : hw.source;
  hw.transposed = m.transposed;
  if (t.synthetic) {
    hw.synthetic = t.synthetic;
    hw.synthetic->first_index += static_cast<uint64_t>(m.first_element);
  } else {
    hw.data = t.data + static_cast<size_t>(m.first_element) * dtype_size(t.dtype);
  }
  // Every weight is checked for NaN and infinity once, while loading reads it
  // anyway: the host quantizers check what they quantize, this checks the
  // rest (weights kept as stored, and all of them on a backend that
  // quantizes on its device). Synthetic weights are finite by construction.
  if (!t.synthetic && (!format || backend_.quantizes_on_device())) {
    const quant::SourceTensor src{m.name, source_dtype_of(t.dtype), hw.data, m.rows * m.stack, m.cols, false};
    QL_TRY(quant::validate_source(src));
  }
  const bool to_fp16 = hw.target == backend::WeightFormat::kF16 && hw.source != hw.target;
  quant::Dense16Report losses;
  auto uploaded = finish(backend_.upload_weight(hw, to_fp16 ? &losses : nullptr));
  if (uploaded && to_fp16) {
    log_fp16_losses(m.name, losses);
    fp16_losses_.overflowed_to_inf += losses.overflowed_to_inf;
    fp16_losses_.flushed_to_zero += losses.flushed_to_zero;
    fp16_losses_.became_subnormal += losses.became_subnormal;
    ++fp16_tensors_;
  }
  return uploaded;
}

Result<backend::WeightPtr> WeightUploader::upload_prequantized(const std::string& name,
                                                               quant::QuantizedWeightPtr weight) {
  backend::HostWeight hw;
  hw.target = backend::weight_format_for(weight->format());
  hw.rows = weight->rows();
  hw.cols = weight->cols();
  hw.quantized.push_back(std::move(weight));
  hw.name = name;
  return finish(backend_.upload_weight(hw, nullptr));
}

Result<backend::WeightPtr> WeightUploader::finish(Result<backend::WeightPtr> uploaded) {
  if (uploaded) stored_bytes_ += (*uploaded)->stored_bytes();
  return uploaded;
}

}  // namespace ql::model
