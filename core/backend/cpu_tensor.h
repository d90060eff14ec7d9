#pragma once
// A CPU tensor: a contiguous row-major [rows, cols] window of elements of its
// dtype in a shared aligned buffer (a persistent block, or the step arena's
// block: cpu_arena.h). Views share the buffer and differ in offset and shape.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/backend/backend.h"
#include "core/backend/cpu_memory.h"

namespace ql::backend::cpu {

class CpuTensor final : public Tensor {
 public:
  // `byte_offset` counts bytes from the start of `storage`.
  CpuTensor(DType dtype, int64_t rows, int64_t cols, std::shared_ptr<AlignedBuffer> storage, size_t byte_offset)
      : Tensor(dtype, rows, cols), storage_(std::move(storage)), byte_offset_(byte_offset) {}

  const std::shared_ptr<AlignedBuffer>& storage() const { return storage_; }
  size_t byte_offset() const { return byte_offset_; }
  std::byte* data() const { return storage_->data() + byte_offset_; }

  // Element access; callers check dtype() first (cpu_check.h helpers below).
  float* f32() { return reinterpret_cast<float*>(data()); }
  const float* f32() const { return reinterpret_cast<const float*>(data()); }
  int32_t* i32() { return reinterpret_cast<int32_t*>(data()); }
  const int32_t* i32() const { return reinterpret_cast<const int32_t*>(data()); }
  float* row(int64_t r) { return f32() + r * cols(); }
  const float* row(int64_t r) const { return f32() + r * cols(); }

 private:
  std::shared_ptr<AlignedBuffer> storage_;
  size_t byte_offset_;
};

// The CPU tensor behind a Tensor handle, checked to be F32 (or I32) and to
// come from a CPU backend; `op` and `arg` name the culprit in the message.
const CpuTensor& f32_arg(const Tensor& t, const char* op, const char* arg);
CpuTensor& f32_arg(Tensor& t, const char* op, const char* arg);
const CpuTensor& i32_arg(const Tensor& t, const char* op, const char* arg);
CpuTensor& i32_arg(Tensor& t, const char* op, const char* arg);
CpuTensor& any_arg(Tensor& t, const char* op, const char* arg);
const CpuTensor& any_arg(const Tensor& t, const char* op, const char* arg);

}  // namespace ql::backend::cpu
