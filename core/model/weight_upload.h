#pragma once
// Quantize while loading (docs/backend-contract.md, "Loading is quantizing"):
// one matrix (or a stack of expert matrices) of a source tensor becomes one
// backend weight in the format its precision policy asks for. The backend
// converts: the CPU backend on the host with core/quant, the CUDA backend on
// the GPU, both writing the same bytes. A matrix already in its format (a bf16
// tensor at bf16) stays as stored (the CPU backend borrows the mapped bytes).
#include <cstdint>
#include <optional>
#include <string>

#include "core/backend/backend.h"
#include "core/common/result.h"
#include "core/model/weight_source.h"
#include "core/quant/quantized_weight.h"

namespace ql::model {

// `stack` [rows, cols] matrices inside a source tensor, from element
// `first_element` on; `transposed`: each stored [cols, rows] (published experts).
struct SourceMatrix {
  const SourceTensorRef* tensor = nullptr;
  std::string name;  // for messages: the tensor's name, plus the part
  int64_t first_element = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stack = 1;
  bool transposed = false;
};

// Hands matrices to a backend, in the format asked for, and keeps the totals.
class WeightUploader {
 public:
  explicit WeightUploader(backend::Backend& backend) : backend_(backend) {}

  // `format` nullopt: the source's dtype, untouched. Errors name the matrix:
  // a NaN or infinity in a tensor being converted, a value beyond fp16's range
  // for int8, or what the backend refused.
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
  Result<backend::WeightPtr> finish(Result<backend::WeightPtr> uploaded);

  backend::Backend& backend_;
  size_t stored_bytes_ = 0;
  quant::Dense16Report fp16_losses_;
  int64_t fp16_tensors_ = 0;
};

}  // namespace ql::model
