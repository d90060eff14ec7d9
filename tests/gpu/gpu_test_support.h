#pragma once
// Helpers for the gpu test suites: device buffers, and uploading core/quant
// weights (the CPU reference formats) into the DeviceWeight layout the
// kernels read (gpu/kernels/device_weight.h). Each test compares a kernel
// with a CPU reference on random inputs (docs/gpu-backend.md, "Tests").
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include <cuda_runtime.h>

#include "core/common/float16.h"
#include "core/quant/int8_rowwise.h"
#include "core/quant/nf4.h"
#include "gpu/kernels/device_weight.h"

namespace ql::gpu::test {

#define QL_GPU_ASSERT(call)                                                       \
  do {                                                                            \
    cudaError_t e_ = (call);                                                      \
    ASSERT_EQ(e_, cudaSuccess) << #call << ": " << cudaGetErrorString(e_);        \
  } while (0)

// Owns one cudaMalloc'd block.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes > 0 && cudaMalloc(&ptr_, bytes) != cudaSuccess) ptr_ = nullptr;
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  template <typename T = void>
  T* get() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

template <typename T>
DeviceBuffer to_device(const std::vector<T>& v) {
  DeviceBuffer b(v.size() * sizeof(T));
  if (!v.empty()) cudaMemcpy(b.get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  return b;
}

template <typename T>
std::vector<T> to_host(const DeviceBuffer& b, size_t count) {
  std::vector<T> v(count);
  if (count > 0) cudaMemcpy(v.data(), b.get(), count * sizeof(T), cudaMemcpyDeviceToHost);
  return v;
}

// Fills a device buffer of floats with NaN, so a test sees every element the
// kernel failed to write.
inline void poison_f32(const DeviceBuffer& b) { cudaMemset(b.get(), 0xff, b.bytes()); }

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A DeviceWeight with the device memory it points into.
struct TestWeight {
  DeviceWeight w;
  std::vector<DeviceBuffer> buffers;
};

// Dense weight: `values` holds stack * rows * cols elements (row-major per
// matrix), stored in `format` (kF32, kBF16 or kF16; 16-bit values are rounded
// to nearest even). `rounded` receives the values as stored, widened to fp32.
inline TestWeight upload_dense(WFormat format, const std::vector<float>& values, int64_t rows, int64_t cols,
                               int64_t stack = 1, std::vector<float>* rounded = nullptr) {
  TestWeight t;
  t.w.format = format;
  t.w.rows = t.w.stored_rows = rows;
  t.w.cols = cols;
  t.w.stack = stack;
  if (rounded) rounded->resize(values.size());
  if (format == WFormat::kF32) {
    t.buffers.push_back(to_device(values));
    if (rounded) *rounded = values;
  } else {
    std::vector<uint16_t> h(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      h[i] = format == WFormat::kBF16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
      if (rounded) (*rounded)[i] = format == WFormat::kBF16 ? bf16_to_f32(h[i]) : f16_to_f32(h[i]);
    }
    t.buffers.push_back(to_device(h));
  }
  t.w.data = t.buffers.back().get();
  return t;
}

// INT8: one core/quant weight per stacked matrix (all of one shape).
inline TestWeight upload_int8(const std::vector<quant::Int8RowwiseWeight>& stack) {
  TestWeight t;
  const auto& first = stack.at(0);
  t.w.format = WFormat::kInt8;
  t.w.rows = t.w.stored_rows = first.rows;
  t.w.cols = first.cols;
  t.w.stack = static_cast<int64_t>(stack.size());
  std::vector<int8_t> codes;
  std::vector<float> scb;
  for (const auto& m : stack) {
    codes.insert(codes.end(), m.codes.begin(), m.codes.end());
    scb.insert(scb.end(), m.scb.begin(), m.scb.end());
  }
  t.buffers.push_back(to_device(codes));
  t.w.codes = t.buffers.back().get<int8_t>();
  t.buffers.push_back(to_device(scb));
  t.w.scb = t.buffers.back().get<float>();
  return t;
}

// NF4: one core/quant weight per stacked matrix (all of one shape). Strides
// are the per-matrix sizes, so matrix m's arrays follow matrix m-1's.
inline TestWeight upload_nf4(const std::vector<quant::Nf4Weight>& stack) {
  TestWeight t;
  const auto& first = stack.at(0);
  t.w.format = WFormat::kNF4;
  t.w.rows = t.w.stored_rows = first.rows;
  t.w.cols = first.cols;
  t.w.stack = static_cast<int64_t>(stack.size());
  t.w.packed_stride = static_cast<int64_t>(first.packed.size());
  t.w.absmax_stride = static_cast<int64_t>(first.absmax_codes.size());
  t.w.nested_stride = static_cast<int64_t>(first.nested_absmax.size());
  std::vector<uint8_t> packed, codes;
  std::vector<float> nested, offset;
  for (const auto& m : stack) {
    packed.insert(packed.end(), m.packed.begin(), m.packed.end());
    codes.insert(codes.end(), m.absmax_codes.begin(), m.absmax_codes.end());
    nested.insert(nested.end(), m.nested_absmax.begin(), m.nested_absmax.end());
    offset.push_back(m.offset);
  }
  std::vector<float> qmap(first.quant_map.begin(), first.quant_map.end());
  std::vector<float> nmap(first.nested_quant_map.begin(), first.nested_quant_map.end());
  t.buffers.push_back(to_device(packed));
  t.w.packed = t.buffers.back().get<uint8_t>();
  t.buffers.push_back(to_device(codes));
  t.w.absmax_codes = t.buffers.back().get<uint8_t>();
  t.buffers.push_back(to_device(nested));
  t.w.nested_absmax = t.buffers.back().get<float>();
  t.buffers.push_back(to_device(offset));
  t.w.offset = t.buffers.back().get<float>();
  t.buffers.push_back(to_device(qmap));
  t.w.quant_map = t.buffers.back().get<float>();
  t.buffers.push_back(to_device(nmap));
  t.w.nested_map = t.buffers.back().get<float>();
  return t;
}

// ||a - b|| / ||b|| over all elements (double); a NaN anywhere gives NaN.
inline double relative_error(const std::vector<float>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (std::isnan(num)) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(num / (den > 0 ? den : 1.0));
}

inline size_t count_nan(const std::vector<float>& v) {
  size_t n = 0;
  for (float x : v) n += std::isnan(x);
  return n;
}

// The format as the suites print it.
inline const char* format_name(WFormat f) {
  switch (f) {
    case WFormat::kF32: return "f32";
    case WFormat::kBF16: return "bf16";
    case WFormat::kF16: return "f16";
    case WFormat::kInt8: return "int8";
    case WFormat::kNF4: return "nf4";
  }
  return "?";
}

}  // namespace ql::gpu::test
