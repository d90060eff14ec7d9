#include "core/quant/source_tensor.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/common/float16.h"

namespace ql::quant {

const char* torch_dtype_name(SourceDType dtype) {
  switch (dtype) {
    case SourceDType::kF32: return "float32";
    case SourceDType::kBF16: return "bfloat16";
    case SourceDType::kF16: return "float16";
  }
  return "unknown";
}

SourceTensor SourceTensor::f32(std::string_view name, const float* data, int64_t rows, int64_t cols) {
  return SourceTensor{name, SourceDType::kF32, data, rows, cols};
}

SourceTensor SourceTensor::bf16(std::string_view name, const uint16_t* data, int64_t rows, int64_t cols) {
  return SourceTensor{name, SourceDType::kBF16, data, rows, cols};
}

SourceTensor SourceTensor::f16(std::string_view name, const uint16_t* data, int64_t rows, int64_t cols) {
  return SourceTensor{name, SourceDType::kF16, data, rows, cols};
}

namespace {

// memcpy per element: mmapped tensors need not be aligned to their element size.
template <typename T>
T load(const void* base, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const unsigned char*>(base) + static_cast<size_t>(i) * sizeof(T), sizeof(T));
  return v;
}

}  // namespace

namespace {

// Elements of a transposed source in [rows, cols] order: (r, c) is stored at c * rows + r.
template <typename Decode>
void read_transposed(const SourceTensor& s, int64_t first, int64_t count, float* out, Decode decode) {
  int64_t r = first / s.cols, c = first % s.cols;
  for (int64_t i = 0; i < count; ++i) {
    out[i] = decode(c * s.rows + r);
    if (++c == s.cols) {
      c = 0;
      ++r;
    }
  }
}

float bf16_at(const void* data, int64_t i) { return bf16_to_f32(load<uint16_t>(data, i)); }
float f16_at(const void* data, int64_t i) { return f16_to_f32(load<uint16_t>(data, i)); }
float f32_at(const void* data, int64_t i) { return load<float>(data, i); }

}  // namespace

void SourceTensor::read_f32(int64_t first, int64_t count, float* out) const {
  if (transposed) {
    const void* d = data;
    switch (dtype) {
      case SourceDType::kF32: return read_transposed(*this, first, count, out, [d](int64_t i) { return f32_at(d, i); });
      case SourceDType::kBF16:
        return read_transposed(*this, first, count, out, [d](int64_t i) { return bf16_at(d, i); });
      case SourceDType::kF16: return read_transposed(*this, first, count, out, [d](int64_t i) { return f16_at(d, i); });
    }
    return;
  }
  switch (dtype) {
    case SourceDType::kF32:
      std::memcpy(out, static_cast<const unsigned char*>(data) + static_cast<size_t>(first) * sizeof(float),
                  static_cast<size_t>(count) * sizeof(float));
      return;
    case SourceDType::kBF16:
      for (int64_t i = 0; i < count; ++i) out[i] = bf16_at(data, first + i);
      return;
    case SourceDType::kF16:
      for (int64_t i = 0; i < count; ++i) out[i] = f16_at(data, first + i);
      return;
  }
}

namespace {

// Index of the first NaN or infinity, or -1. Tested on the bits so that the
// check is cheap enough to run over every weight of a 30B model.
int64_t first_non_finite(const SourceTensor& src) {
  const int64_t n = src.numel();
  switch (src.dtype) {
    case SourceDType::kF32:
      for (int64_t i = 0; i < n; ++i) {
        if ((load<uint32_t>(src.data, i) & 0x7f800000u) == 0x7f800000u) return i;
      }
      return -1;
    case SourceDType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        if ((load<uint16_t>(src.data, i) & 0x7f80u) == 0x7f80u) return i;
      }
      return -1;
    case SourceDType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        if ((load<uint16_t>(src.data, i) & 0x7c00u) == 0x7c00u) return i;
      }
      return -1;
  }
  return -1;
}

}  // namespace

Status validate_source(const SourceTensor& src) {
  if (src.rows <= 0 || src.cols <= 0) {
    return err("{}: cannot quantize a tensor of shape [{}, {}]", src.name, src.rows, src.cols);
  }
  if (src.rows > std::numeric_limits<int64_t>::max() / src.cols) {
    return err("{}: shape [{}, {}] has too many elements", src.name, src.rows, src.cols);
  }
  if (src.data == nullptr) return err("{}: no data to quantize", src.name);
  int64_t bad = first_non_finite(src);
  if (bad >= 0 && src.transposed) bad = (bad % src.rows) * src.cols + bad / src.rows;  // stored (c, r) -> (r, c)
  if (bad >= 0) {
    float v = 0;
    src.read_f32(bad, 1, &v);
    return err("{}: element {} (row {}, col {}) is {}; a weight must be finite (a NaN or infinity would make every output it touches NaN)",
               src.name, bad, bad / src.cols, bad % src.cols, v);
  }
  return {};
}

}  // namespace ql::quant
