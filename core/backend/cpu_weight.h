#pragma once
// A CPU weight: rows of a [rows, cols] matrix in its stored format, either
// borrowed from the caller (an mmapped checkpoint outlives the model) or in a
// buffer the backend owns. Rows are contiguous, so a row range is a pointer
// offset (weight_rows) and every op reads rows through cpu_weight_decode.h.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/backend/backend.h"
#include "core/backend/cpu_memory.h"
#include "core/common/result.h"

namespace ql::backend::cpu {

size_t element_bytes(WeightFormat f);

class CpuWeight final : public Weight {
 public:
  // `owner` keeps `data` alive when it is backend memory (null when borrowed);
  // `counts_owner` is false for row views, so the bytes are reported once.
  CpuWeight(WeightFormat format, int64_t rows, int64_t cols, const std::byte* data,
            std::shared_ptr<AlignedBuffer> owner, bool counts_owner, std::string name);

  size_t owned_bytes() const override { return counts_owner_ && owner_ ? owner_->size() : 0; }
  const std::string& name() const { return name_; }
  size_t row_bytes() const { return static_cast<size_t>(cols()) * element_bytes(format()); }
  const std::byte* row_data(int64_t r) const { return data_ + static_cast<size_t>(r) * row_bytes(); }
  bool borrowed() const { return owner_ == nullptr; }

  // Rows [first, first + rows) sharing this weight's bytes.
  std::shared_ptr<CpuWeight> rows_view(int64_t first, int64_t rows) const;

 private:
  const std::byte* data_;
  std::shared_ptr<AlignedBuffer> owner_;
  bool counts_owner_;
  std::string name_;
};

// Borrows the caller's bytes when they are in [rows, cols] order and aligned to
// the element size; otherwise copies (transposing when `transposed`). Errors
// name the weight.
Result<std::shared_ptr<CpuWeight>> upload_cpu_weight(const HostWeight& w, const ByteCounter& counter);

// The CPU weight behind a Weight handle (aborts on a weight of another backend).
const CpuWeight& weight_arg(const Weight& w, const char* op, const char* arg);

}  // namespace ql::backend::cpu
