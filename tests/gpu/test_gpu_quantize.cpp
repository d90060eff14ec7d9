// Quantizing while loading on the GPU (gpu/kernels/convert_dense, quantize_int8,
// quantize_nf4) against core/quant's CPU quantizers: the device bytes must be
// the CPU's byte for byte (docs/gpu-backend.md, "Loading"), so every
// comparison here is exact (no tolerance: both sides run the same fp32/fp64
// operations in the same order with the same rounding). Sources are bf16, fp16
// and fp32, plain and transposed (the published fused-expert layout), in
// stacks, with the awkward values each format has to get right.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <cuda_runtime.h>

#include "core/common/float16.h"
#include "core/model/synthetic_values.h"
#include "core/quant/dense16.h"
#include "core/quant/dynamic_map.h"
#include "core/quant/int8_rowwise.h"
#include "core/quant/nf4.h"
#include "core/quant/nf4_code_table.h"
#include "core/quant/source_tensor.h"
#include "gpu/kernels/convert_dense.cuh"
#include "gpu/kernels/quantize_int8.cuh"
#include "gpu/kernels/quantize_nf4.cuh"
#include "gpu/kernels/quantize_source.cuh"
#include "gpu/kernels/synthetic.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace ql::gpu::test {
namespace {

using quant::SourceDType;

const char* type_name(SourceType t) {
  return t == SourceType::kF32 ? "f32" : t == SourceType::kBF16 ? "bf16" : "f16";
}

SourceDType dtype_of(SourceType t) {
  return t == SourceType::kF32 ? SourceDType::kF32 : t == SourceType::kBF16 ? SourceDType::kBF16 : SourceDType::kF16;
}

// A stack of matrices as the checkpoint stores them.
struct HostSource {
  SourceType type = SourceType::kBF16;
  int64_t rows = 0, cols = 0, stack = 1;
  bool transposed = false;
  std::vector<uint8_t> bytes;

  HostSource(SourceType t, int64_t r, int64_t c, int64_t s, bool tr) : type(t), rows(r), cols(c), stack(s), transposed(tr) {
    bytes.assign(static_cast<size_t>(numel() * stack * es()), 0);
  }
  int64_t es() const { return source_element_bytes(type); }
  int64_t numel() const { return rows * cols; }
  int64_t stored_index(int64_t m, int64_t r, int64_t c) const {
    return m * numel() + (transposed ? c * rows + r : r * cols + c);
  }
  // Logical element (r, c) of matrix m, rounded to the source type (nearest even).
  void set(int64_t m, int64_t r, int64_t c, float v) {
    uint8_t* p = bytes.data() + stored_index(m, r, c) * es();
    if (type == SourceType::kF32) {
      std::memcpy(p, &v, 4);
    } else {
      const uint16_t h = type == SourceType::kBF16 ? f32_to_bf16(v) : f32_to_f16(v);
      std::memcpy(p, &h, 2);
    }
  }
  void set_flat(int64_t m, int64_t i, float v) { set(m, i / cols, i % cols, v); }
  quant::SourceTensor tensor(int64_t m) const {
    return quant::SourceTensor{"w", dtype_of(type), bytes.data() + m * numel() * es(), rows, cols, transposed};
  }
  SourceMatrices device(const void* d) const { return SourceMatrices{d, type, rows, cols, stack, transposed}; }
};

// Would v survive the conversion to the source type as a finite value?
bool finite_in(SourceType t, float v) {
  if (t == SourceType::kF32) return std::isfinite(v);
  return std::isfinite(t == SourceType::kBF16 ? bf16_to_f32(f32_to_bf16(v)) : f16_to_f32(f32_to_f16(v)));
}

// Normal values of a different scale per matrix, plus: an all-zero row, a row of identical values, a row of
// exact int8 ties (absmax 127, so W16 * scale = W16 and x.5 rounds to even), an all-zero NF4 block, a block of fp32
// subnormals (1 / absmax overflows: the dividing path), and a block whose scaled values lie exactly on the NF4
// thresholds and one ulp either side (exact for fp32 sources, nearby values for 16-bit ones). `extremes` adds the
// values the 16-bit conversions lose (overflow, flush, subnormal results) at random places: dense tests only.
void fill(HostSource& s, uint32_t seed, bool extremes) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const float scales[4] = {0.02f, 1.0f, 1e-3f, 7.5f};
  const int64_t numel = s.numel(), blocks = numel / 64;
  for (int64_t m = 0; m < s.stack; ++m) {
    const float sc = scales[m % 4];
    for (int64_t r = 0; r < s.rows; ++r) {
      for (int64_t c = 0; c < s.cols; ++c) s.set(m, r, c, normal(rng) * sc);
    }
    if (s.rows > 1) {
      for (int64_t c = 0; c < s.cols; ++c) s.set(m, 1, c, 0.0f);
    }
    if (s.rows > 2) {
      for (int64_t c = 0; c < s.cols; ++c) s.set(m, 2, c, 0.37f);
    }
    if (s.rows > 3 && s.cols >= 8) {
      for (int64_t c = 0; c < s.cols; ++c) {
        s.set(m, 3, c, c == 0 ? 127.0f : ((c & 1) ? -1.0f : 1.0f) * (static_cast<float>(c % 120) + 0.5f));
      }
    }
    if (blocks >= 3) {
      for (int64_t j = 0; j < 64; ++j) s.set_flat(m, (blocks / 2) * 64 + j, 0.0f);
    }
    if (blocks >= 4) {
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      for (int64_t j = 0; j < 64; ++j) s.set_flat(m, (blocks / 3) * 64 + j, u(rng) * 1e-39f);
    }
    if (blocks >= 5) {
      const int64_t first = (blocks * 3 / 4) * 64;
      s.set_flat(m, first, 4.0f);  // absmax 2^2: x * (1/absmax) is exact
      for (int k = 0; k < 15; ++k) {
        const float t = quant::kNf4Thresholds[k] * 4.0f;
        s.set_flat(m, first + 1 + k, t);
        s.set_flat(m, first + 16 + k, std::nextafter(t, 8.0f));
        s.set_flat(m, first + 31 + k, std::nextafter(t, -8.0f));
      }
      for (int64_t j = 46; j < 64; ++j) s.set_flat(m, first + j, -quant::kNf4Thresholds[j % 15] * 4.0f);
    }
  }
  if (extremes) {
    const float list[] = {1e-6f, -3e-8f,   1e-9f,    70000.0f, -65520.0f, 65519.0f, 65504.0f, 1e-39f,
                          -1e-45f, 3.4e38f, 3.38e38f, 6e-5f,  5.9604645e-8f, 2.9802322e-8f, -2.9802326e-8f};
    std::uniform_int_distribution<int64_t> where(0, numel - 1);
    std::uniform_int_distribution<int> which(0, static_cast<int>(std::size(list)) - 1);
    const int64_t n = std::max<int64_t>(1, numel / 50);
    for (int64_t m = 0; m < s.stack; ++m) {
      for (int64_t k = 0; k < n; ++k) {
        const float v = list[which(rng)];
        if (finite_in(s.type, v)) s.set_flat(m, where(rng), v);
      }
    }
  }
}

// Source bytes on the device at `byte_offset` from a 256-byte aligned allocation (0: the fast paths; 2: element-
// but not 16-byte aligned; 1: not even element-aligned).
struct DeviceSource {
  DeviceBuffer buf;
  const void* ptr = nullptr;
  DeviceSource(const HostSource& s, size_t byte_offset) : buf(s.bytes.size() + 16) {
    uint8_t* p = buf.get<uint8_t>() + byte_offset;
    EXPECT_EQ(cudaMemcpy(p, s.bytes.data(), s.bytes.size(), cudaMemcpyHostToDevice), cudaSuccess);
    ptr = p;
  }
};

QuantizeProblems read_problems(const DeviceBuffer& d) {
  QuantizeProblems p{};
  EXPECT_EQ(cudaMemcpy(&p, d.get(), sizeof(p), cudaMemcpyDeviceToHost), cudaSuccess);
  return p;
}

template <typename T>
::testing::AssertionResult same_bytes(const std::vector<T>& got, const std::vector<T>& want, const char* what) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << what << ": " << got.size() << " elements, want " << want.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      uint64_t g = 0, w = 0;
      std::memcpy(&g, &got[i], sizeof(T));
      std::memcpy(&w, &want[i], sizeof(T));
      size_t bad = 0;
      for (size_t j = i; j < got.size(); ++j) bad += std::memcmp(&got[j], &want[j], sizeof(T)) != 0;
      return ::testing::AssertionFailure() << what << ": " << bad << " of " << got.size()
                                           << " differ, the first at " << i << ": got 0x" << std::hex << g
                                           << ", want 0x" << w;
    }
  }
  return ::testing::AssertionSuccess();
}

// The poisons of the two runs of every launch: a byte left unwritten keeps a poison, which cannot equal the
// expected byte in both runs. (0xff also makes every unwritten fp32 a NaN in the second run.)
constexpr int kPoisons[2] = {0xa5, 0xff};

std::string shape_name(const HostSource& s, size_t offset) {
  return std::string(type_name(s.type)) + " " + std::to_string(s.stack) + " x [" + std::to_string(s.rows) + ", " +
         std::to_string(s.cols) + "]" + (s.transposed ? " transposed" : "") + " offset " + std::to_string(offset);
}

// ---- dense ------------------------------------------------------------------------------------------------------

void check_dense(const HostSource& s, size_t offset) {
  SCOPED_TRACE(shape_name(s, offset));
  DeviceSource dsrc(s, offset);
  DeviceBuffer problems(sizeof(QuantizeProblems));
  const int64_t total = s.numel() * s.stack;
  for (int32_t target = 0; target < 3; ++target) {
    SCOPED_TRACE("target " + std::to_string(target));
    // CPU: read_f32 for fp32 (exact), quantize_dense16 for bf16/fp16, matrix by matrix.
    std::vector<uint8_t> want;
    quant::Dense16Report report;
    for (int64_t m = 0; m < s.stack; ++m) {
      const quant::SourceTensor t = s.tensor(m);
      if (target == 0) {
        std::vector<float> f(static_cast<size_t>(s.numel()));
        t.read_f32(0, s.numel(), f.data());
        const auto* b = reinterpret_cast<const uint8_t*>(f.data());
        want.insert(want.end(), b, b + f.size() * 4);
      } else {
        auto r = quant::quantize_dense16(t, target == 1 ? quant::Dense16Type::kBF16 : quant::Dense16Type::kF16);
        ASSERT_TRUE(r.ok()) << r.message();
        const auto* b = reinterpret_cast<const uint8_t*>(r->weight.bits.data());
        want.insert(want.end(), b, b + r->weight.bits.size() * 2);
        report.overflowed_to_inf += r->report.overflowed_to_inf;
        report.flushed_to_zero += r->report.flushed_to_zero;
        report.became_subnormal += r->report.became_subnormal;
      }
    }
    DeviceBuffer out(static_cast<size_t>(total) * (target == 0 ? 4 : 2));
    for (int poison : kPoisons) {
      QL_GPU_ASSERT(cudaMemset(out.get(), poison, out.bytes()));
      QL_GPU_ASSERT(reset_quantize_problems(problems.get<QuantizeProblems>(), nullptr));
      QL_GPU_ASSERT(launch_convert_dense(s.device(dsrc.ptr), target, out.get(), problems.get<QuantizeProblems>(), nullptr));
      QL_GPU_ASSERT(cudaDeviceSynchronize());
      EXPECT_TRUE(same_bytes(to_host<uint8_t>(out, out.bytes()), want, "dense values"));
      const QuantizeProblems p = read_problems(problems);
      EXPECT_EQ(p.first_nonfinite, kNoProblem);
      EXPECT_EQ(p.first_beyond_f16, kNoProblem);
      EXPECT_EQ(p.overflowed_to_inf, static_cast<unsigned long long>(report.overflowed_to_inf));
      EXPECT_EQ(p.flushed_to_zero, static_cast<unsigned long long>(report.flushed_to_zero));
      EXPECT_EQ(p.became_subnormal, static_cast<unsigned long long>(report.became_subnormal));
    }
  }
}

// ---- int8 -------------------------------------------------------------------------------------------------------

void check_int8(const HostSource& s, size_t offset) {
  SCOPED_TRACE(shape_name(s, offset));
  std::vector<int8_t> want_codes;
  std::vector<float> want_scb;
  for (int64_t m = 0; m < s.stack; ++m) {
    auto r = quant::quantize_int8_rowwise(s.tensor(m));
    ASSERT_TRUE(r.ok()) << r.message();
    want_codes.insert(want_codes.end(), r->codes.begin(), r->codes.end());
    want_scb.insert(want_scb.end(), r->scb.begin(), r->scb.end());
  }
  DeviceSource dsrc(s, offset);
  DeviceBuffer problems(sizeof(QuantizeProblems));
  DeviceBuffer codes(want_codes.size()), scb(want_scb.size() * 4);
  for (int poison : kPoisons) {
    QL_GPU_ASSERT(cudaMemset(codes.get(), poison, codes.bytes()));
    QL_GPU_ASSERT(cudaMemset(scb.get(), poison, scb.bytes()));
    QL_GPU_ASSERT(reset_quantize_problems(problems.get<QuantizeProblems>(), nullptr));
    QL_GPU_ASSERT(launch_quantize_int8(s.device(dsrc.ptr), codes.get<int8_t>(), scb.get<float>(),
                                       problems.get<QuantizeProblems>(), nullptr));
    QL_GPU_ASSERT(cudaDeviceSynchronize());
    EXPECT_TRUE(same_bytes(to_host<int8_t>(codes, want_codes.size()), want_codes, "int8 codes"));
    EXPECT_TRUE(same_bytes(to_host<float>(scb, want_scb.size()), want_scb, "int8 scb"));
    const QuantizeProblems p = read_problems(problems);
    EXPECT_EQ(p.first_nonfinite, kNoProblem);
    EXPECT_EQ(p.first_beyond_f16, kNoProblem);
  }
}

// ---- nf4 --------------------------------------------------------------------------------------------------------

struct Nf4Expected {
  std::vector<uint8_t> packed, absmax_codes;
  std::vector<float> nested, offset;
};

Nf4Expected nf4_expected(const HostSource& s, const std::vector<int64_t>& matrices) {
  Nf4Expected e;
  for (int64_t m : matrices) {
    auto r = quant::quantize_nf4(s.tensor(m));
    EXPECT_TRUE(r.ok()) << r.message();
    if (!r.ok()) return e;
    e.packed.insert(e.packed.end(), r->packed.begin(), r->packed.end());
    e.absmax_codes.insert(e.absmax_codes.end(), r->absmax_codes.begin(), r->absmax_codes.end());
    e.nested.insert(e.nested.end(), r->nested_absmax.begin(), r->nested_absmax.end());
    e.offset.push_back(r->offset);
  }
  return e;
}

struct Nf4Device {
  int64_t packed_stride, blocks, nested_stride;
  DeviceBuffer packed, codes, nested, offset, scratch, map;
  Nf4Device(int64_t rows, int64_t cols, int64_t stack)
      : packed_stride((rows * cols + 1) / 2),
        blocks((rows * cols + 63) / 64),
        nested_stride((blocks + 255) / 256),
        packed(static_cast<size_t>(packed_stride * stack)),
        codes(static_cast<size_t>(blocks * stack)),
        nested(static_cast<size_t>(nested_stride * stack) * 4),
        offset(static_cast<size_t>(stack) * 4),
        scratch(nf4_scratch_bytes(rows, cols, stack)),
        map(to_device(std::vector<float>(quant::signed_dynamic_map().begin(), quant::signed_dynamic_map().end()))) {}
  void poison(int value) const {
    cudaMemset(packed.get(), value, packed.bytes());
    cudaMemset(codes.get(), value, codes.bytes());
    cudaMemset(nested.get(), value, nested.bytes());
    cudaMemset(offset.get(), value, offset.bytes());
    cudaMemset(scratch.get(), 0xff, scratch.bytes());  // NaN: reading scratch before writing it shows
  }
  cudaError_t launch(const SourceMatrices& src, QuantizeProblems* problems, cudaStream_t stream = nullptr) const {
    return launch_quantize_nf4(src, map.get<float>(), packed.get<uint8_t>(), codes.get<uint8_t>(), nested.get<float>(),
                               offset.get<float>(), scratch.get(), problems, stream);
  }
};

// Downloads matrix m's outputs and appends them to `got`.
void nf4_download(const Nf4Device& d, int64_t m, Nf4Expected& got) {
  auto part = [](const DeviceBuffer& b, size_t first, size_t count, auto& dst) {
    using T = typename std::decay_t<decltype(dst)>::value_type;
    std::vector<T> v(count);
    EXPECT_EQ(cudaMemcpy(v.data(), b.get<uint8_t>() + first * sizeof(T), count * sizeof(T), cudaMemcpyDeviceToHost),
              cudaSuccess);
    dst.insert(dst.end(), v.begin(), v.end());
  };
  part(d.packed, static_cast<size_t>(m * d.packed_stride), static_cast<size_t>(d.packed_stride), got.packed);
  part(d.codes, static_cast<size_t>(m * d.blocks), static_cast<size_t>(d.blocks), got.absmax_codes);
  part(d.nested, static_cast<size_t>(m * d.nested_stride), static_cast<size_t>(d.nested_stride), got.nested);
  part(d.offset, static_cast<size_t>(m), 1, got.offset);
}

void expect_nf4_equal(const Nf4Expected& got, const Nf4Expected& want) {
  EXPECT_TRUE(same_bytes(got.packed, want.packed, "nf4 packed"));
  EXPECT_TRUE(same_bytes(got.absmax_codes, want.absmax_codes, "nf4 absmax codes"));
  EXPECT_TRUE(same_bytes(got.nested, want.nested, "nf4 nested absmax"));
  EXPECT_TRUE(same_bytes(got.offset, want.offset, "nf4 offset"));
}

void check_nf4(const HostSource& s, size_t offset) {
  SCOPED_TRACE(shape_name(s, offset));
  std::vector<int64_t> all(static_cast<size_t>(s.stack));
  for (int64_t m = 0; m < s.stack; ++m) all[m] = m;
  const Nf4Expected want = nf4_expected(s, all);
  ASSERT_FALSE(::testing::Test::HasFailure());
  DeviceSource dsrc(s, offset);
  DeviceBuffer problems(sizeof(QuantizeProblems));
  Nf4Device d(s.rows, s.cols, s.stack);
  for (int poison : kPoisons) {
    d.poison(poison);
    QL_GPU_ASSERT(reset_quantize_problems(problems.get<QuantizeProblems>(), nullptr));
    QL_GPU_ASSERT(d.launch(s.device(dsrc.ptr), problems.get<QuantizeProblems>()));
    QL_GPU_ASSERT(cudaDeviceSynchronize());
    Nf4Expected got;
    for (int64_t m = 0; m < s.stack; ++m) nf4_download(d, m, got);
    expect_nf4_equal(got, want);
    EXPECT_EQ(read_problems(problems).first_nonfinite, kNoProblem);
  }
}

// ---- the cases --------------------------------------------------------------------------------------------------

struct Shape {
  int64_t rows, cols, stack;
  bool transposed;
};

// Tiny and odd shapes, NF4 blocks spanning rows and short last blocks (37 x 100), odd numel (3 x 5, 37 x 101),
// the model's shapes (text 768 x 2048 and 2048 x 768, vision MLP 4304 x 1152), transposed stacks (tiny experts,
// a partial 64-row tile, and the published gate_up layout of 8 experts).
const Shape kShapes[] = {
    {1, 1, 1, false},     {3, 5, 1, false},     {37, 100, 1, false},  {37, 101, 3, false},
    {768, 2048, 1, false}, {2048, 768, 1, false}, {4304, 1152, 1, false}, {20, 24, 4, true},
    {100, 128, 2, true},  {3, 5, 2, true},      {1536, 2048, 8, true},
};
const SourceType kTypes[] = {SourceType::kBF16, SourceType::kF16, SourceType::kF32};

TEST(GpuQuantize, DenseMatchesCpu) {
  uint32_t seed = 100;
  for (const Shape& sh : kShapes) {
    for (SourceType t : kTypes) {
      HostSource s(t, sh.rows, sh.cols, sh.stack, sh.transposed);
      fill(s, seed++, /*extremes=*/true);
      check_dense(s, 0);
    }
  }
}

TEST(GpuQuantize, Int8MatchesCpu) {
  uint32_t seed = 200;
  for (const Shape& sh : kShapes) {
    for (SourceType t : kTypes) {
      HostSource s(t, sh.rows, sh.cols, sh.stack, sh.transposed);
      fill(s, seed++, false);
      check_int8(s, 0);
    }
  }
}

TEST(GpuQuantize, Nf4MatchesCpu) {
  uint32_t seed = 300;
  for (const Shape& sh : kShapes) {
    for (SourceType t : kTypes) {
      HostSource s(t, sh.rows, sh.cols, sh.stack, sh.transposed);
      fill(s, seed++, false);
      check_nf4(s, 0);
    }
  }
}

// Sources that are not 16-byte aligned (the general paths) or not even element-aligned (read byte by byte), in
// shapes that would otherwise take each fast path.
TEST(GpuQuantize, UnalignedSourcesMatchCpu) {
  const Shape shapes[] = {{64, 128, 2, false}, {64, 128, 2, true}, {37, 100, 2, false}, {20, 24, 2, true}};
  uint32_t seed = 400;
  for (const Shape& sh : shapes) {
    for (SourceType t : kTypes) {
      for (size_t offset : {size_t{1}, size_t{2}, size_t{4}}) {
        HostSource s(t, sh.rows, sh.cols, sh.stack, sh.transposed);
        fill(s, seed++, false);
        check_dense(s, offset);
        check_int8(s, offset);
        check_nf4(s, offset);
      }
    }
  }
}

// Every kind of scaled value the NF4 code lookup can see, compared with the CPU's threshold count: blocks with
// absmax 1 (x * 1/absmax == x exactly) holding each threshold and its 4 neighbouring floats on both sides, the
// kernel's table cell edges (k / 64) and their neighbours, a dense sweep of [-1, 1], and blocks with absmax 3 and
// 0.7 (1/absmax inexact, so x * inv can land a little beyond 1) and a subnormal absmax (the dividing path).
TEST(GpuQuantize, Nf4CodesEverywhereMatchCpu) {
  std::vector<float> v;
  auto around = [&](float x) {
    float lo = x, hi = x;
    v.push_back(x);
    for (int k = 0; k < 4; ++k) {
      lo = std::nextafter(lo, -2.0f);
      hi = std::nextafter(hi, 2.0f);
      v.push_back(lo);
      v.push_back(hi);
    }
  };
  for (float t : quant::kNf4Thresholds) around(t);
  for (int k = -66; k <= 66; ++k) around(static_cast<float>(k) / 64.0f);
  for (int k = 0; k <= 200000; ++k) v.push_back(-1.0f + 2.0f * static_cast<float>(k) / 200000.0f);
  // Blocks of 63 values behind their absmax.
  std::vector<float> x;
  auto emit = [&](float absmax, float scale) {
    for (size_t i = 0; i < v.size(); i += 63) {
      x.push_back(absmax);
      for (size_t j = i; j < std::min(v.size(), i + 63); ++j) x.push_back(std::clamp(v[j], -1.0f, 1.0f) * scale);
      while (x.size() % 64 != 0) x.push_back(0.0f);
    }
  };
  emit(1.0f, 1.0f);
  emit(3.0f, 3.0f);
  emit(-0.7f, 0.7f);
  emit(1e-39f, 1e-39f);
  for (bool transposed : {false, true}) {
    const int64_t cols = 64, rows = static_cast<int64_t>(x.size()) / cols;
    HostSource s(SourceType::kF32, rows, cols, 1, transposed);
    for (int64_t i = 0; i < s.numel(); ++i) s.set_flat(0, i, x[static_cast<size_t>(i)]);
    check_nf4(s, 0);  // the flat fast path, resp. the tile path (cols % 64 == 0)
    check_nf4(s, 4);  // plain: the general path; transposed: the tile path again, from an unaligned source
  }
}

// Whole matrices of one value: every block absmax equals the offset (nested absmax 0, absmax code 127), and all
// zeros (NF4 code 7, int8 scb 0).
TEST(GpuQuantize, ConstantMatricesMatchCpu) {
  for (SourceType t : kTypes) {
    for (bool transposed : {false, true}) {
      for (float v : {0.5f, -3.25f, 0.0f}) {
        HostSource s(t, 96, 128, 2, transposed);
        for (int64_t m = 0; m < 2; ++m) {
          for (int64_t i = 0; i < s.numel(); ++i) s.set_flat(m, i, m == 0 ? v : 0.0f);
        }
        check_dense(s, 0);
        check_int8(s, 0);
        check_nf4(s, 0);
      }
    }
  }
}

// A planted NaN and infinity: the first in stored order (over the stack) is reported by every kernel; int8 also
// reports the first value beyond fp16's range in [rows, cols] order. The CPU refuses the same tensors.
TEST(GpuQuantize, ReportsProblemIndices) {
  for (SourceType t : kTypes) {
    for (bool transposed : {false, true}) {
      for (const Shape& sh : {Shape{37, 100, 3, transposed}, Shape{64, 128, 3, transposed}}) {
        HostSource s(t, sh.rows, sh.cols, sh.stack, transposed);
        SCOPED_TRACE(shape_name(s, 0));
        fill(s, 500, false);
        s.set(1, 5, 7, std::nanf(""));
        s.set(2, 1, 3, -INFINITY);
        s.set(1, 30, 2, INFINITY);
        const unsigned long long want_nonfinite = static_cast<unsigned long long>(
            std::min({s.stored_index(1, 5, 7), s.stored_index(2, 1, 3), s.stored_index(1, 30, 2)}));
        unsigned long long want_beyond = kNoProblem;
        if (t != SourceType::kF16) {  // fp16 cannot hold 70000: it would be an infinity
          s.set(0, 20, 50, 70000.0f);
          s.set(0, 21, 0, -65520.0f);
          s.set(2, 0, 0, 70000.0f);
          want_beyond = static_cast<unsigned long long>(20 * s.cols + 50);
        }
        EXPECT_FALSE(quant::validate_source(s.tensor(1)).ok());
        if (want_beyond != kNoProblem) {
          EXPECT_FALSE(quant::quantize_int8_rowwise(s.tensor(0)).ok());
        }

        DeviceSource dsrc(s, 0);
        DeviceBuffer problems(sizeof(QuantizeProblems));
        auto* p = problems.get<QuantizeProblems>();
        const int64_t total = s.numel() * s.stack;
        for (int32_t target = 0; target < 3; ++target) {
          DeviceBuffer out(static_cast<size_t>(total) * 4);
          QL_GPU_ASSERT(reset_quantize_problems(p, nullptr));
          QL_GPU_ASSERT(launch_convert_dense(s.device(dsrc.ptr), target, out.get(), p, nullptr));
          QL_GPU_ASSERT(cudaDeviceSynchronize());
          EXPECT_EQ(read_problems(problems).first_nonfinite, want_nonfinite) << "dense target " << target;
        }
        DeviceBuffer codes(static_cast<size_t>(total)), scb(static_cast<size_t>(s.rows * s.stack) * 4);
        QL_GPU_ASSERT(reset_quantize_problems(p, nullptr));
        QL_GPU_ASSERT(launch_quantize_int8(s.device(dsrc.ptr), codes.get<int8_t>(), scb.get<float>(), p, nullptr));
        QL_GPU_ASSERT(cudaDeviceSynchronize());
        const QuantizeProblems pi = read_problems(problems);
        EXPECT_EQ(pi.first_nonfinite, want_nonfinite) << "int8";
        EXPECT_EQ(pi.first_beyond_f16, want_beyond) << "int8";

        Nf4Device d(s.rows, s.cols, s.stack);
        QL_GPU_ASSERT(reset_quantize_problems(p, nullptr));
        QL_GPU_ASSERT(d.launch(s.device(dsrc.ptr), p));
        QL_GPU_ASSERT(cudaDeviceSynchronize());
        EXPECT_EQ(read_problems(problems).first_nonfinite, want_nonfinite) << "nf4";
      }
    }
  }
}

TEST(GpuQuantize, RejectsBadArguments) {
  DeviceBuffer buf(1024), problems(sizeof(QuantizeProblems));
  auto* p = problems.get<QuantizeProblems>();
  const SourceMatrices ok{buf.get(), SourceType::kBF16, 4, 8, 1, false};
  SourceMatrices empty = ok;
  empty.rows = 0;
  EXPECT_EQ(launch_convert_dense(empty, 1, buf.get(), p, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_convert_dense(ok, 3, buf.get(), p, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch_convert_dense(ok, 1, buf.get<uint8_t>() + 1, p, nullptr), cudaErrorMisalignedAddress);
  EXPECT_EQ(launch_quantize_int8(empty, buf.get<int8_t>(), buf.get<float>(), p, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// ---- timing -----------------------------------------------------------------------------------------------------

// The text MoE's gate_up stack of one layer: 128 experts x [1536, 2048] bf16 (805 MB, far beyond the 50 MB L2, so
// no input rotation), plain and in the published transposed layout. Filled on the device by the synthetic
// generator; matrices 0, 77 and 127 are checked against the CPU.
TEST(GpuQuantize, Timing) {
  constexpr int64_t kRows = 1536, kCols = 2048, kStack = 128;
  const int64_t numel = kRows * kCols, total = numel * kStack;
  const double src_bytes = static_cast<double>(total) * 2;
  DeviceBuffer src(static_cast<size_t>(total) * 2);
  ASSERT_NE(src.get(), nullptr);
  QL_GPU_ASSERT(launch_synthetic_bf16(0x5eed, 0, total, 0.0f, 0.05f, src.get(), nullptr));
  DeviceBuffer problems(sizeof(QuantizeProblems));
  auto* p = problems.get<QuantizeProblems>();
  DeviceBuffer dense(static_cast<size_t>(total) * 2), codes(static_cast<size_t>(total)),
      scb(static_cast<size_t>(kRows * kStack) * 4);
  Nf4Device nf4(kRows, kCols, kStack);
  ASSERT_NE(dense.get(), nullptr);
  ASSERT_NE(codes.get(), nullptr);
  ASSERT_NE(nf4.scratch.get(), nullptr);
  const std::vector<int64_t> checked = {0, 77, 127};

  cudaEvent_t start, stop;
  QL_GPU_ASSERT(cudaEventCreate(&start));
  QL_GPU_ASSERT(cudaEventCreate(&stop));
  for (bool transposed : {false, true}) {
    const SourceMatrices sm{src.get(), SourceType::kBF16, kRows, kCols, kStack, transposed};
    auto time = [&](const char* what, double out_bytes, auto&& launch) {
      std::vector<float> ms;
      for (int it = 0; it < 23; ++it) {
        ASSERT_EQ(reset_quantize_problems(p, nullptr), cudaSuccess);
        ASSERT_EQ(cudaEventRecord(start), cudaSuccess);
        ASSERT_EQ(launch(), cudaSuccess);
        ASSERT_EQ(cudaEventRecord(stop), cudaSuccess);
        ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
        float t = 0;
        ASSERT_EQ(cudaEventElapsedTime(&t, start, stop), cudaSuccess);
        if (it >= 3) ms.push_back(t);
      }
      std::sort(ms.begin(), ms.end());
      const double med = ms[ms.size() / 2];
      std::printf("TIMING quantize %-10s bf16 128 x [1536, 2048]%s: %.3f ms, %.0f GB/s of source read, %.0f GB/s moved\n",
                  what, transposed ? " transposed" : "", med, src_bytes / med * 1e-6,
                  (src_bytes + out_bytes) / med * 1e-6);
      EXPECT_EQ(read_problems(problems).first_nonfinite, kNoProblem);
    };
    time("bf16->f16", src_bytes, [&] { return launch_convert_dense(sm, 2, dense.get(), p, nullptr); });
    time("int8", static_cast<double>(total) + kRows * kStack * 4.0,
         [&] { return launch_quantize_int8(sm, codes.get<int8_t>(), scb.get<float>(), p, nullptr); });
    time("nf4", total / 2.0 + total / 64.0 * 5, [&] { return nf4.launch(sm, p); });
    QL_GPU_ASSERT(cudaDeviceSynchronize());

    // Correctness of the last run of each, on three experts.
    HostSource s(SourceType::kBF16, kRows, kCols, kStack, transposed);
    for (int64_t m : checked) {
      QL_GPU_ASSERT(cudaMemcpy(s.bytes.data() + m * numel * 2, src.get<uint8_t>() + m * numel * 2,
                               static_cast<size_t>(numel) * 2, cudaMemcpyDeviceToHost));
    }
    Nf4Expected got;
    for (int64_t m : checked) {
      SCOPED_TRACE("expert " + std::to_string(m) + (transposed ? " transposed" : ""));
      auto d16 = quant::quantize_dense16(s.tensor(m), quant::Dense16Type::kF16);
      ASSERT_TRUE(d16.ok());
      std::vector<uint16_t> gd(static_cast<size_t>(numel));
      QL_GPU_ASSERT(cudaMemcpy(gd.data(), dense.get<uint16_t>() + m * numel, gd.size() * 2, cudaMemcpyDeviceToHost));
      EXPECT_TRUE(same_bytes(gd, d16->weight.bits, "f16"));
      auto i8 = quant::quantize_int8_rowwise(s.tensor(m));
      ASSERT_TRUE(i8.ok());
      std::vector<int8_t> gc(static_cast<size_t>(numel));
      std::vector<float> gs(static_cast<size_t>(kRows));
      QL_GPU_ASSERT(cudaMemcpy(gc.data(), codes.get<int8_t>() + m * numel, gc.size(), cudaMemcpyDeviceToHost));
      QL_GPU_ASSERT(cudaMemcpy(gs.data(), scb.get<float>() + m * kRows, gs.size() * 4, cudaMemcpyDeviceToHost));
      EXPECT_TRUE(same_bytes(gc, i8->codes, "int8 codes"));
      EXPECT_TRUE(same_bytes(gs, i8->scb, "int8 scb"));
      nf4_download(nf4, m, got);
    }
    expect_nf4_equal(got, nf4_expected(s, checked));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace
}  // namespace ql::gpu::test
