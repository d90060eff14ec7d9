#pragma once
// A CPU tensor: a contiguous row-major [rows, cols] window of 4-byte elements
// in a shared aligned buffer. Views share the buffer and differ in offset and
// shape only.
#include <cstdint>
#include <memory>

#include "core/backend/backend.h"
#include "core/backend/cpu_memory.h"

namespace ql::backend::cpu {

class CpuTensor final : public Tensor {
 public:
  // `offset` counts elements from the start of `storage`.
  CpuTensor(DType dtype, int64_t rows, int64_t cols, std::shared_ptr<AlignedBuffer> storage, int64_t offset)
      : Tensor(dtype, rows, cols), storage_(std::move(storage)), offset_(offset) {}

  const std::shared_ptr<AlignedBuffer>& storage() const { return storage_; }
  int64_t offset() const { return offset_; }

  // Element access; callers check dtype() first (cpu_check.h helpers below).
  float* f32() { return reinterpret_cast<float*>(storage_->data()) + offset_; }
  const float* f32() const { return reinterpret_cast<const float*>(storage_->data()) + offset_; }
  int32_t* i32() { return reinterpret_cast<int32_t*>(storage_->data()) + offset_; }
  const int32_t* i32() const { return reinterpret_cast<const int32_t*>(storage_->data()) + offset_; }
  float* row(int64_t r) { return f32() + r * cols(); }
  const float* row(int64_t r) const { return f32() + r * cols(); }

 private:
  std::shared_ptr<AlignedBuffer> storage_;
  int64_t offset_;
};

// The CPU tensor behind a Tensor handle, checked to be F32 (or I32) and to
// come from a CPU backend; `op` and `arg` name the culprit in the message.
const CpuTensor& f32_arg(const Tensor& t, const char* op, const char* arg);
CpuTensor& f32_arg(Tensor& t, const char* op, const char* arg);
const CpuTensor& i32_arg(const Tensor& t, const char* op, const char* arg);
CpuTensor& any_arg(Tensor& t, const char* op, const char* arg);
const CpuTensor& any_arg(const Tensor& t, const char* op, const char* arg);

}  // namespace ql::backend::cpu
