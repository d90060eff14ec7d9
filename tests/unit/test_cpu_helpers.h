#pragma once
// Shared helpers of the CPU backend tests (test_cpu_*.cpp): random inputs,
// weights whose host bytes stay alive, NaN-poisoned outputs, reading back.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/cpu_backend.h"
#include "core/common/float16.h"

namespace ql::backend::test {

inline std::vector<float> random_values(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Multiples of 1/64 in [-2, 2]: exact in F32, BF16 and F16, so a reference
// on these values needs no decoding of its own.
inline std::vector<float> exact_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-128, 128);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(dist(rng)) / 64.0f;
  return v;
}

inline TensorPtr tensor_from(Backend& be, int64_t rows, int64_t cols, const std::vector<float>& values) {
  EXPECT_EQ(values.size(), static_cast<size_t>(rows * cols));
  auto t = be.new_tensor(DType::kF32, rows, cols);
  be.write(*t, values.data(), values.size() * sizeof(float));
  return t;
}

inline TensorPtr ids_from(Backend& be, const std::vector<int32_t>& ids, int64_t cols = 1) {
  auto t = be.new_tensor(DType::kI32, static_cast<int64_t>(ids.size()) / cols, cols);
  be.write(*t, ids.data(), ids.size() * sizeof(int32_t));
  return t;
}

// An output tensor full of NaN, so that an element the op forgot shows up.
inline TensorPtr poisoned(Backend& be, int64_t rows, int64_t cols) {
  return tensor_from(be, rows, cols, std::vector<float>(static_cast<size_t>(rows * cols), std::nanf("")));
}

inline std::vector<float> read_all(Backend& be, const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  be.read(t, v.data(), v.size() * sizeof(float));
  return v;
}

inline size_t count_nan(const std::vector<float>& v) {
  size_t n = 0;
  for (float x : v) n += std::isnan(x) ? 1 : 0;
  return n;
}

// got[i] within rel * scale[i] + abs of want[i], where scale is the size of
// what was summed (e.g. sum |x_k w_k|): the error bound of fp32 sums.
inline void expect_close(const std::vector<float>& got, const std::vector<double>& want, double rel,
                         const std::vector<double>& scale = {}, double abs = 1e-6) {
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(count_nan(got), 0u) << "some outputs were not written";
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double s = scale.empty() ? std::abs(want[i]) : scale[i];
    const double tol = rel * s + abs;
    if (!(std::abs(got[i] - want[i]) <= tol) && ++bad <= 5)
      ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want[i] << " (tol " << tol << ")";
  }
  EXPECT_EQ(bad, 0u) << "elements out of tolerance";
}

// Uploads weights from host values and keeps their host bytes alive for the
// life of the test (the CPU backend borrows aligned bytes).
class HostWeights {
 public:
  explicit HostWeights(Backend& be) : be_(be) {}

  // values are [rows, cols] (logical orientation); stored as `format`, either
  // row-major or transposed ([cols, rows]), at an odd address when `misalign`.
  WeightPtr upload(const std::vector<float>& values, int64_t rows, int64_t cols,
                   WeightFormat format = WeightFormat::kF32, bool transposed = false, bool misalign = false,
                   const std::string& name = "test.weight") {
    EXPECT_EQ(values.size(), static_cast<size_t>(rows * cols));
    const size_t esize = format == WeightFormat::kF32 ? 4 : 2;
    auto& bytes = keep_.emplace_back(values.size() * esize + 64);
    // The vector's data is malloc-aligned (16): +16 stays aligned, +17 is odd.
    std::byte* base = bytes.data() + (misalign ? 17 : 16);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const float v = values[r * cols + c];
        const int64_t at = transposed ? c * rows + r : r * cols + c;
        if (format == WeightFormat::kF32) {
          std::memcpy(base + at * 4, &v, 4);
        } else {
          const uint16_t h = format == WeightFormat::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
          std::memcpy(base + at * 2, &h, 2);
        }
      }
    HostWeight hw;
    hw.source = hw.target = format;
    hw.rows = rows;
    hw.cols = cols;
    hw.data = base;
    hw.transposed = transposed;
    hw.name = name;
    auto r = be_.upload_weight(hw, nullptr);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? r.value() : nullptr;
  }

  // A stack of matrices (the experts of a layer), each [rows, cols] values,
  // stored one after another as `format`.
  // `transposed`: each stored [cols, rows], the published fused-expert layout.
  WeightPtr upload_stack(const std::vector<std::vector<float>>& matrices, int64_t rows, int64_t cols,
                         WeightFormat format = WeightFormat::kF32, bool transposed = false,
                         const std::string& name = "test.experts") {
    const size_t esize = format == WeightFormat::kF32 ? 4 : 2;
    const size_t per = static_cast<size_t>(rows * cols);
    auto& bytes = keep_.emplace_back(matrices.size() * per * esize + 64);
    std::byte* base = bytes.data() + 16;
    for (size_t m = 0; m < matrices.size(); ++m) {
      EXPECT_EQ(matrices[m].size(), per);
      for (size_t i = 0; i < per; ++i) {
        const float v = matrices[m][i];
        const size_t r = i / static_cast<size_t>(cols), c = i % static_cast<size_t>(cols);
        const size_t at = m * per + (transposed ? c * static_cast<size_t>(rows) + r : i);
        if (format == WeightFormat::kF32) {
          std::memcpy(base + at * 4, &v, 4);
        } else {
          const uint16_t h = format == WeightFormat::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
          std::memcpy(base + at * 2, &h, 2);
        }
      }
    }
    HostWeight hw;
    hw.source = hw.target = format;
    hw.rows = rows;
    hw.cols = cols;
    hw.stack = static_cast<int64_t>(matrices.size());
    hw.data = base;
    hw.transposed = transposed;
    hw.name = name;
    auto r = be_.upload_weight(hw, nullptr);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? r.value() : nullptr;
  }

  // Host bytes of the last upload, for tests that edit them after upload.
  std::vector<std::byte>& last_bytes() { return keep_.back(); }

 private:
  Backend& be_;
  std::deque<std::vector<std::byte>> keep_;
};

}  // namespace ql::backend::test
