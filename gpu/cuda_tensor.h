#pragma once
// Tensors and weights of the CUDA backend: handles to device memory.
#include <memory>
#include <string>

#include "core/backend/backend.h"
#include "gpu/device_memory.h"
#include "gpu/kernels/device_weight.h"

namespace ql::gpu {

class CudaTensor final : public backend::Tensor {
 public:
  // `owner` keeps a persistent tensor's block alive; arena tensors have none.
  CudaTensor(backend::DType dtype, int64_t rows, int64_t cols, void* data, std::shared_ptr<DeviceBlock> owner)
      : Tensor(dtype, rows, cols), data_(data), owner_(std::move(owner)) {}
  void* data() const { return data_; }
  float* f32() const { return static_cast<float*>(data_); }
  int32_t* i32() const { return static_cast<int32_t*>(data_); }
  const std::shared_ptr<DeviceBlock>& owner() const { return owner_; }

 private:
  void* data_;
  std::shared_ptr<DeviceBlock> owner_;
};

class CudaWeight final : public backend::Weight {
 public:
  CudaWeight(const DeviceWeight& dw, backend::WeightFormat format, std::shared_ptr<DeviceBlock> storage,
             size_t stored_bytes, std::string name)
      : Weight(format, dw.rows, dw.cols, dw.stack),
        dw_(dw),
        storage_(std::move(storage)),
        stored_bytes_(stored_bytes),
        name_(std::move(name)) {}
  const DeviceWeight& device() const { return dw_; }
  const std::string& name() const { return name_; }
  const std::shared_ptr<DeviceBlock>& storage() const { return storage_; }
  size_t owned_bytes() const override { return view_ ? 0 : (storage_ ? storage_->size() : 0); }
  size_t stored_bytes() const override { return view_ ? 0 : stored_bytes_; }

  // Rows [first, first + rows) of every matrix, sharing the storage.
  std::shared_ptr<CudaWeight> rows_view(int64_t first, int64_t rows) const {
    DeviceWeight v = dw_;
    v.first_row += first;
    v.rows = rows;
    auto w = std::make_shared<CudaWeight>(v, format(), storage_, 0, name_ + "[rows]");
    w->view_ = true;
    return w;
  }

 private:
  DeviceWeight dw_;
  std::shared_ptr<DeviceBlock> storage_;
  size_t stored_bytes_;
  std::string name_;
  bool view_ = false;
};

}  // namespace ql::gpu
