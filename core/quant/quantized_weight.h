#pragma once
// The one interface the engine and the loader use for every weight format:
// quantize a [rows, cols] tensor straight from the (mmapped) source, decode
// whole rows to fp32, and multiply y = x . W^T reading the stored format.
// The stored tensors of each format stay reachable (stored_as) for exporters.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "core/common/result.h"
#include "core/quant/dense16.h"
#include "core/quant/int8_rowwise.h"
#include "core/quant/nf4.h"
#include "core/quant/source_tensor.h"

namespace ql::quant {

enum class QuantFormat { kBF16, kF16, kInt8Rowwise, kNf4 };

const char* quant_format_name(QuantFormat format);

struct MatmulOptions {
  float int8_outlier_threshold = 6.0f;  // LLM.int8 only; 0 = no outlier columns
  int threads = 0;                      // 0 = one per hardware thread
};

class QuantizedWeight {
 public:
  virtual ~QuantizedWeight() = default;
  virtual QuantFormat format() const = 0;
  virtual int64_t rows() const = 0;
  virtual int64_t cols() const = 0;
  // Bytes of the stored tensors (codes, scales, maps), i.e. what it costs in memory.
  virtual size_t stored_bytes() const = 0;
  // Rows [first_row, first_row + rows) as fp32, row-major [rows, cols()].
  virtual void decode_rows(int64_t first_row, int64_t rows, float* out) const = 0;
  // y [n, rows()] = x [n, cols()] . W^T, both row-major. Fails only when out of memory.
  virtual Status matmul(const float* x, int64_t n, float* y, const MatmulOptions& options = {}) const = 0;
};
using QuantizedWeightPtr = std::unique_ptr<QuantizedWeight>;

// Per-format pieces of FormatWeight, one overload per stored format.
QuantFormat format_of(const Dense16Weight& w);
QuantFormat format_of(const Int8RowwiseWeight& w);
QuantFormat format_of(const Nf4Weight& w);
size_t stored_bytes(const Dense16Weight& w);
size_t stored_bytes(const Int8RowwiseWeight& w);
size_t stored_bytes(const Nf4Weight& w);
Status matmul(const Dense16Weight& w, const float* x, int64_t n, float* y, const MatmulOptions& options);
Status matmul(const Int8RowwiseWeight& w, const float* x, int64_t n, float* y, const MatmulOptions& options);
Status matmul(const Nf4Weight& w, const float* x, int64_t n, float* y, const MatmulOptions& options);

// A weight holding one format's stored tensors (Dense16Weight,
// Int8RowwiseWeight or Nf4Weight).
template <typename Stored>
class FormatWeight final : public QuantizedWeight {
 public:
  explicit FormatWeight(Stored stored) : stored_(std::move(stored)) {}
  const Stored& stored() const { return stored_; }

  QuantFormat format() const override { return format_of(stored_); }
  int64_t rows() const override { return stored_.rows; }
  int64_t cols() const override { return stored_.cols; }
  size_t stored_bytes() const override { return quant::stored_bytes(stored_); }
  void decode_rows(int64_t first_row, int64_t rows, float* out) const override {
    quant::decode_rows(stored_, first_row, rows, out);
  }
  Status matmul(const float* x, int64_t n, float* y, const MatmulOptions& options) const override {
    return quant::matmul(stored_, x, n, y, options);
  }

 private:
  Stored stored_;
};

// The stored tensors of `w` if it is in that format, else null.
template <typename Stored>
const Stored* stored_as(const QuantizedWeight& w) {
  const auto* typed = dynamic_cast<const FormatWeight<Stored>*>(&w);
  return typed ? &typed->stored() : nullptr;
}

// Quantizes one tensor. Errors name the tensor (empty shape, NaN or infinity
// with its index, a value beyond fp16 for INT8). For kBF16/kF16,
// `dense16_report` (if given) receives what the conversion lost.
Result<QuantizedWeightPtr> quantize(const SourceTensor& src, QuantFormat format, int threads = 0,
                                    Dense16Report* dense16_report = nullptr);

}  // namespace ql::quant
