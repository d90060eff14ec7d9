#pragma once
// Quantize while loading (DESIGN.md, "Loading is quantizing"): one matrix of
// an mmapped checkpoint tensor becomes one backend weight in the format its
// precision policy asks for. A matrix already in that format (a bf16 tensor
// at bf16) goes to the backend as a view of the mapped bytes, as before; any
// other format is converted from the mapped bytes straight into its final
// storage, so the only memory a load adds is the converted model itself.
#include <cstdint>
#include <optional>
#include <string>

#include "core/backend/backend.h"
#include "core/common/result.h"
#include "core/model/safetensors.h"
#include "core/quant/quantized_weight.h"

namespace ql::model {

// A [rows, cols] matrix inside a checkpoint tensor, from element
// `first_element` on; `transposed`: stored [cols, rows] (published experts).
struct SourceMatrix {
  const TensorView* tensor = nullptr;
  std::string name;  // for messages: the tensor's name, plus the expert or part
  int64_t first_element = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  bool transposed = false;
};

// Hands matrices to a backend, converting as asked, and keeps the totals.
class WeightUploader {
 public:
  // threads: for quantizing (0 = every core).
  WeightUploader(backend::Backend& backend, int threads) : backend_(backend), threads_(threads) {}

  // `format` nullopt: the checkpoint's dtype, untouched. Errors name the
  // matrix: a NaN or infinity in a tensor being converted, a value beyond
  // fp16's range for int8, or what the backend refused.
  Result<backend::WeightPtr> upload(const SourceMatrix& m, std::optional<quant::QuantFormat> format);

  // A weight that the checkpoint already holds quantized (a bitsandbytes
  // module, model/bnb_weights.h), handed over as stored: no conversion.
  Result<backend::WeightPtr> upload_prequantized(const std::string& name, quant::QuantizedWeightPtr weight);

  // Weight::stored_bytes of every weight uploaded so far.
  size_t stored_bytes() const { return stored_bytes_; }
  // What converting to fp16 lost, summed over every tensor converted to fp16.
  const quant::Dense16Report& fp16_losses() const { return fp16_losses_; }
  int64_t fp16_tensors() const { return fp16_tensors_; }

 private:
  Result<backend::WeightPtr> upload_as_stored(const SourceMatrix& m);
  Result<backend::WeightPtr> upload_converted(const SourceMatrix& m, quant::QuantFormat format);
  Result<backend::WeightPtr> finish(Result<backend::WeightPtr> uploaded);

  backend::Backend& backend_;
  int threads_;
  size_t stored_bytes_ = 0;
  quant::Dense16Report fp16_losses_;
  int64_t fp16_tensors_ = 0;
};

}  // namespace ql::model
