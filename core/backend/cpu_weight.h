#pragma once
// A CPU weight: rows of a [rows, cols] matrix in its stored format. Dense
// formats (F32, BF16, F16) are contiguous rows, borrowed from the caller (an
// mmapped checkpoint outlives the model) or in memory the backend keeps, so a
// row range is a pointer offset. Quantized formats (INT8, NF4) are rows of a
// shared core/quant weight, so a row range is a row offset (NF4 blocks run
// across rows). Every op reads rows through cpu_weight_decode.h. A stacked
// weight (the experts of a layer) holds one such weight per matrix.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/cpu_memory.h"
#include "core/common/result.h"
#include "core/quant/quantized_weight.h"

namespace ql::backend::cpu {

// Bytes per element of a dense format; 0 for the quantized ones.
size_t element_bytes(WeightFormat f);
bool is_dense(WeightFormat f);

// Where a CpuWeight's rows live.
struct CpuWeightStorage {
  const std::byte* data = nullptr;                          // dense formats: row 0 of this weight
  std::shared_ptr<const quant::QuantizedWeight> quantized;  // INT8 / NF4: the stored tensors
  int64_t first_row = 0;                                    // INT8 / NF4: this weight's row 0 in `quantized`
  std::shared_ptr<const void> owner;  // keeps backend-held memory alive; null when borrowed
  size_t owned_bytes = 0;             // counted by this weight (0 for row views: counted once)
  size_t stored_bytes = 0;            // this weight's data, owned or borrowed (0 for row views)
};

class CpuWeight final : public Weight {
 public:
  CpuWeight(WeightFormat format, int64_t rows, int64_t cols, CpuWeightStorage storage, std::string name);
  // A stack of matrices of one format and shape (stack() == members.size()).
  CpuWeight(std::vector<std::shared_ptr<const CpuWeight>> members, std::string name);

  size_t owned_bytes() const override;
  size_t stored_bytes() const override;

  // Matrix e of a stack (the weight itself when stack() == 1).
  const CpuWeight& matrix(int64_t e) const { return members_.empty() ? *this : *members_[static_cast<size_t>(e)]; }
  const std::string& name() const { return name_; }
  bool borrowed() const { return storage_.owner == nullptr; }

  // Dense formats only.
  size_t row_bytes() const { return static_cast<size_t>(cols()) * element_bytes(format()); }
  const std::byte* row_data(int64_t r) const { return storage_.data + static_cast<size_t>(r) * row_bytes(); }

  // Quantized formats only: the stored weight and this weight's first row in it.
  const quant::QuantizedWeight& quantized() const { return *storage_.quantized; }
  int64_t first_row() const { return storage_.first_row; }

  // Rows [first, first + rows) sharing this weight's storage.
  std::shared_ptr<CpuWeight> rows_view(int64_t first, int64_t rows) const;

 private:
  CpuWeightStorage storage_;
  std::string name_;
  std::vector<std::shared_ptr<const CpuWeight>> members_;
};

// Makes a CPU weight from a HostWeight (backend.h): dense bytes of the target
// format are borrowed when they are in [rows, cols] order and aligned to the
// element size, otherwise copied (transposing when `transposed`); any other
// target is converted with core/quant on `threads` threads; a synthetic source
// is generated first. Already quantized weights are shared. Owned bytes are
// counted in `counter`. Errors name the weight (and matrix of a stack).
Result<std::shared_ptr<CpuWeight>> upload_cpu_weight(const HostWeight& w, const ByteCounter& counter, int threads,
                                                     quant::Dense16Report* fp16_losses);

// One already quantized matrix (cpu_weight_quantized.cpp).
Result<std::shared_ptr<CpuWeight>> upload_quantized_cpu_weight(std::shared_ptr<const quant::QuantizedWeight> q,
                                                               WeightFormat target, const std::string& name,
                                                               const ByteCounter& counter);

// The CPU weight behind a Weight handle (aborts on a weight of another backend).
const CpuWeight& weight_arg(const Weight& w, const char* op, const char* arg);

}  // namespace ql::backend::cpu
