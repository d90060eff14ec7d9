// GPU parity of the decode matvec (gpu/kernels/matvec.cuh) and the LLM.int8
// activation quantizer (gpu/kernels/int8_activations.cuh) against core/quant:
//   * quantizer: codes, absmax and outlier columns IDENTICAL to
//     ql::quant::quantize_activations (kPerRow: called on each row alone);
//   * INT8 matvec: ql::quant::int8_matmul, bit for bit where the CPU build does
//     not contract a * b + c into an FMA (x86-64 without -mfma), else within a
//     few ulps of its outlier sum;
//   * dense / NF4 matvec: the CPU-decoded weight (decode_rows) times x in
//     double, within the fp32 accumulation error bound.
// Every shape class runs: odd rows (1, 3, 37, 1000), odd columns (24 ... 4304),
// stacks (matrix 2 of 3), row views of a fused weight, several targets (and
// formats) in one launch, n in {1, 3, 8, 16}, bias and accumulate on/off, and
// the model's real decode shapes, with TIMING lines for them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "core/common/float16.h"
#include "core/quant/int8_activations.h"
#include "core/quant/int8_matmul.h"
#include "core/quant/int8_rowwise.h"
#include "core/quant/nf4.h"
#include "core/quant/source_tensor.h"
#include "gpu/kernels/int8_activations.cuh"
#include "gpu/kernels/matvec.cuh"
#include "tests/gpu/gpu_test_support.h"
#include "tests/gpu/host_test_weight.h"

namespace {

using ql::gpu::DeviceWeight;
using ql::gpu::Int8Activations;
using ql::gpu::MatvecTarget;
using ql::gpu::OutlierMode;
using ql::gpu::WFormat;
using namespace ql::gpu::test;

// int8_matmul's fp32 outlier sum is compared bit for bit only where the CPU
// build cannot have fused `sum += x * w` into an FMA.
#if defined(__x86_64__) && !defined(__FMA__)
constexpr bool kCpuExactInt8 = true;
#else
constexpr bool kCpuExactInt8 = false;
#endif

using HostWeight = HostTestWeight;

// Bytes one matvec over the whole of a matrix of hw reads.
double matrix_bytes(const HostWeight& hw) {
  const double e = static_cast<double>(hw.rows) * hw.cols;
  switch (hw.format) {
    case WFormat::kF32: return 4 * e;
    case WFormat::kInt8: return e + 4.0 * hw.rows;
    case WFormat::kNF4: return std::ceil(e / 2) + std::ceil(e / 64) + 4 * std::ceil(e / 64 / 256);
    default: return 2 * e;
  }
}

// x [n, ldx] in [-1, 1) with a few outlier columns (|x| >= 7 in some rows),
// so LLM.int8's threshold 6 has columns to take out.
std::vector<float> make_x(int64_t n, int64_t cols, int64_t ldx, uint64_t seed) {
  std::vector<float> x(static_cast<size_t>(n * ldx));
  fill_uniform(x, seed);
  const int64_t outliers[3] = {cols / 7, cols / 3, cols - 1};
  for (int k = 0; k < 3; ++k) {
    for (int64_t i = k % 2; i < n; i += 2) x[i * ldx + outliers[k]] = (k == 1 ? -7.5f : 9.0f) + 0.25f * i;
  }
  return x;
}

struct Spec {
  const HostWeight* hw = nullptr;
  int64_t matrix = 0;
  int64_t first_row = 0;  // row view of each stored matrix
  int64_t rows = -1;      // -1: all stored rows
  bool bias = false;
};

// Runs one launch over `specs` and checks every output (and that the padding
// of y was not touched). Returns the outputs in *ys when given.
void run_case(const std::vector<Spec>& specs, int64_t n, int64_t ldx_pad, bool accumulate, float threshold,
              uint64_t seed, std::vector<std::vector<float>>* ys = nullptr) {
  const int64_t cols = specs[0].hw->cols;
  const int64_t ldx = cols + ldx_pad;
  const std::vector<float> x = make_x(n, cols, ldx, seed);
  std::vector<float> xc(static_cast<size_t>(n * cols));  // contiguous copy for int8_matmul
  for (int64_t i = 0; i < n; ++i) std::memcpy(&xc[i * cols], &x[i * ldx], sizeof(float) * cols);
  DeviceBuffer dx = to_device(x);

  bool any_int8 = false;
  for (const auto& s : specs) any_int8 |= s.hw->format == WFormat::kInt8;
  DeviceBuffer xq_buf;
  Int8Activations xq;
  if (any_int8) {
    xq_buf = DeviceBuffer(ql::gpu::int8_activations_bytes(n, cols, OutlierMode::kUnion));
    xq = ql::gpu::int8_activations_in(xq_buf.get(), n, cols, OutlierMode::kUnion);
    QL_GPU_ASSERT(ql::gpu::launch_quantize_int8_activations(dx.get<float>(), ldx, threshold, xq, nullptr));
  }

  struct Out {
    int64_t rows, ldy;
    std::vector<float> bias, y0;
    DeviceBuffer dbias, dy;
  };
  std::vector<Out> outs(specs.size());
  std::vector<MatvecTarget> targets(specs.size());
  for (size_t k = 0; k < specs.size(); ++k) {
    const Spec& s = specs[k];
    Out& o = outs[k];
    o.rows = s.rows < 0 ? s.hw->rows : s.rows;
    o.ldy = o.rows + 3;
    DeviceWeight w = s.hw->dev.w;
    w.first_row = s.first_row;
    w.rows = o.rows;
    targets[k].w = w;
    targets[k].matrix = s.matrix;
    if (s.bias) {
      o.bias = random_floats(o.rows, static_cast<uint32_t>(seed + 17 * k), -0.5f, 0.5f);
      o.dbias = to_device(o.bias);
      targets[k].bias = o.dbias.get<float>();
    }
    if (accumulate) {
      o.y0 = random_floats(n * o.ldy, static_cast<uint32_t>(seed + 31 * k), -2.0f, 2.0f);
      o.dy = to_device(o.y0);
    } else {
      o.dy = DeviceBuffer(sizeof(float) * n * o.ldy);
      poison_f32(o.dy);
    }
    ASSERT_NE(o.dy.get(), nullptr);
    targets[k].y = o.dy.get<float>();
    targets[k].ldy = o.ldy;
  }
  QL_GPU_ASSERT(ql::gpu::launch_matvec(targets.data(), static_cast<int>(targets.size()), dx.get<float>(), ldx, n,
                                       any_int8 ? &xq : nullptr, accumulate, nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());

  if (ys) ys->clear();
  for (size_t k = 0; k < specs.size(); ++k) {
    const Spec& s = specs[k];
    const Out& o = outs[k];
    const std::vector<float> y = to_host<float>(o.dy, n * o.ldy);
    if (ys) ys->push_back(y);
    const std::string what = std::string(format_name(s.hw->format)) + " target " + std::to_string(k) + " [" +
                             std::to_string(o.rows) + ", " + std::to_string(cols) + "] n=" + std::to_string(n) +
                             (accumulate ? " acc" : "") + (s.bias ? " bias" : "");
    // Padding columns of y: untouched.
    size_t pad_bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t c = o.rows; c < o.ldy; ++c) {
        const float v = y[i * o.ldy + c];
        pad_bad += accumulate ? (std::memcmp(&v, &o.y0[i * o.ldy + c], 4) != 0) : !std::isnan(v);
      }
    }
    EXPECT_EQ(pad_bad, 0u) << what << ": wrote outside [n, rows]";

    if (s.hw->format == WFormat::kInt8) {
      // core's int8_matmul on the view's rows of matrix `matrix`.
      const auto& full = s.hw->int8[s.matrix];
      ql::quant::Int8RowwiseWeight view;
      view.rows = o.rows;
      view.cols = cols;
      view.codes.assign(full.codes.begin() + s.first_row * cols, full.codes.begin() + (s.first_row + o.rows) * cols);
      view.scb.assign(full.scb.begin() + s.first_row, full.scb.begin() + s.first_row + o.rows);
      std::vector<float> prod(static_cast<size_t>(n * o.rows));
      ql::quant::Int8MatmulOptions opt;
      opt.outlier_threshold = threshold;
      opt.threads = 0;
      const auto st = ql::quant::int8_matmul(xc.data(), n, view, prod.data(), opt);
      ASSERT_TRUE(st.ok()) << st.message();
      const auto xq_cpu = ql::quant::quantize_activations(xc.data(), n, cols, threshold);
      size_t bad = 0, nan = 0;
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t r = 0; r < o.rows; ++r) {
          const float p = prod[i * o.rows + r];
          float want;  // the kernel's documented order of fp32 adds
          if (accumulate) {
            want = o.y0[i * o.ldy + r];
            if (s.bias) want = want + o.bias[r];
            want = want + p;
          } else if (s.bias) {
            want = o.bias[r] + p;
          } else {
            want = p;
          }
          const float got = y[i * o.ldy + r];
          nan += std::isnan(got);
          bool ok;
          if (kCpuExactInt8) {
            ok = std::memcmp(&got, &want, 4) == 0;
          } else {
            // An FMA-contracting CPU rounds each outlier add once less: allow
            // a few ulps of the magnitudes in that sum.
            double mag = std::fabs(want) + (accumulate ? std::fabs(o.y0[i * o.ldy + r]) : 0.0) +
                         (s.bias ? std::fabs(o.bias[r]) : 0.0);
            for (int64_t c : xq_cpu.outlier_cols) {
              mag += std::fabs(xc[i * cols + c] * (full.codes[(s.first_row + r) * cols + c] *
                                                    static_cast<double>(full.scb[s.first_row + r]) / 127.0));
            }
            ok = std::fabs(static_cast<double>(got) - want) <= 4.0 * FLT_EPSILON * mag;
          }
          if (!ok && bad++ < 5) {
            ADD_FAILURE() << what << ": y[" << i << ", " << r << "] = " << got << ", int8_matmul gives " << want;
          }
        }
      }
      EXPECT_EQ(nan, 0u) << what << ": outputs not written";
      EXPECT_EQ(bad, 0u) << what << " (" << xq_cpu.outlier_cols.size() << " outlier columns)";
    } else {
      // Double-precision product with the decoded weight. The kernel sums in
      // fp32: each lane adds at most ~cols/32 + 8 products in sequence, then a
      // 5-level shuffle tree, <= 3 slice adds, bias and y; recursive fp32
      // summation of m terms errs by at most ~m * 2^-24 * sum |terms|, which for
      // cols <= 4304 (m < 180) stays below 1.1e-5 * sum |terms|, so 2e-5 is a
      // bound, not a guess. The L2 relative error is typically ~1e-7.
      std::vector<float> wrow(static_cast<size_t>(cols));
      std::vector<double> want(static_cast<size_t>(n * o.rows));
      std::vector<float> got(static_cast<size_t>(n * o.rows));
      size_t bad = 0, nan = 0;
      for (int64_t r = 0; r < o.rows; ++r) {
        s.hw->rows_of(s.matrix, s.first_row + r, 1, wrow.data());
        for (int64_t i = 0; i < n; ++i) {
          double dot = 0, mag = 0;
          for (int64_t c = 0; c < cols; ++c) {
            const double t = static_cast<double>(x[i * ldx + c]) * wrow[c];
            dot += t;
            mag += std::fabs(t);
          }
          double ref = dot;
          if (s.bias) {
            ref += o.bias[r];
            mag += std::fabs(o.bias[r]);
          }
          if (accumulate) {
            ref += o.y0[i * o.ldy + r];
            mag += std::fabs(o.y0[i * o.ldy + r]);
          }
          const float g = y[i * o.ldy + r];
          want[i * o.rows + r] = ref;
          got[i * o.rows + r] = g;
          nan += std::isnan(g);
          if (!(std::fabs(g - ref) <= 2e-5 * mag + 1e-30) && bad++ < 5) {
            ADD_FAILURE() << what << ": y[" << i << ", " << r << "] = " << g << ", want " << ref << " (sum |x w| "
                          << mag << ")";
          }
        }
      }
      EXPECT_EQ(nan, 0u) << what << ": outputs not written";
      EXPECT_EQ(bad, 0u) << what;
      EXPECT_LT(relative_error(got, want), 1e-5) << what;
    }
  }
}

const WFormat kAllFormats[] = {WFormat::kF32, WFormat::kBF16, WFormat::kF16, WFormat::kInt8, WFormat::kNF4};

// ---- the LLM.int8 activation quantizer ---------------------------------------------------

struct QuantCase {
  int64_t rows, cols, ldx;
  float threshold;
  OutlierMode mode;
};

// x [rows, ldx] -> GPU quantization, compared with core's quantize_activations.
void check_quantizer(const std::vector<float>& x, const QuantCase& qc, const std::string& what) {
  const int64_t rows = qc.rows, cols = qc.cols, ldx = qc.ldx;
  DeviceBuffer dx = to_device(x);
  DeviceBuffer storage(ql::gpu::int8_activations_bytes(rows, cols, qc.mode));
  ASSERT_NE(storage.get(), nullptr);
  QL_GPU_ASSERT(cudaMemset(storage.get(), 0xff, storage.bytes()));  // codes -1, absmax NaN, counts -1
  const Int8Activations a = ql::gpu::int8_activations_in(storage.get(), rows, cols, qc.mode);
  QL_GPU_ASSERT(ql::gpu::launch_quantize_int8_activations(dx.get<float>(), ldx, qc.threshold, a, nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());

  const bool per_row = qc.mode == OutlierMode::kPerRow;
  std::vector<int8_t> codes(static_cast<size_t>(rows * cols));
  std::vector<float> absmax(static_cast<size_t>(rows));
  std::vector<int32_t> count(per_row ? rows : 1);
  std::vector<int32_t> list(static_cast<size_t>(per_row ? rows * cols : cols));
  QL_GPU_ASSERT(cudaMemcpy(codes.data(), a.codes, codes.size(), cudaMemcpyDeviceToHost));
  QL_GPU_ASSERT(cudaMemcpy(absmax.data(), a.absmax, absmax.size() * 4, cudaMemcpyDeviceToHost));
  QL_GPU_ASSERT(cudaMemcpy(count.data(), a.outlier_count, count.size() * 4, cudaMemcpyDeviceToHost));
  QL_GPU_ASSERT(cudaMemcpy(list.data(), a.outlier_cols, list.size() * 4, cudaMemcpyDeviceToHost));

  std::vector<float> row_major(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i) std::memcpy(&row_major[i * cols], &x[i * ldx], sizeof(float) * cols);
  size_t bad_codes = 0, bad_absmax = 0, bad_lists = 0;
  auto compare = [&](const ql::quant::QuantizedActivations& q, int64_t first_row, int32_t got_count,
                     const int32_t* got_list) {
    if (got_count != static_cast<int32_t>(q.outlier_cols.size())) {
      ++bad_lists;
    } else {
      for (int32_t k = 0; k < got_count; ++k) bad_lists += got_list[k] != q.outlier_cols[k];
    }
    for (int64_t i = 0; i < q.rows; ++i) {
      // Bit for bit, except that any NaN matches any NaN: the GPU's parallel
      // max meets a row's NaNs in no fixed order, and which payload it keeps
      // changes nothing (every product of that row is NaN either way).
      const bool both_nan = std::isnan(absmax[first_row + i]) && std::isnan(q.absmax[i]);
      bad_absmax += !both_nan && std::memcmp(&absmax[first_row + i], &q.absmax[i], 4) != 0;
      bad_codes += std::memcmp(&codes[(first_row + i) * cols], &q.codes[i * cols], cols) != 0;
    }
  };
  if (per_row) {
    for (int64_t i = 0; i < rows; ++i) {
      compare(ql::quant::quantize_activations(&row_major[i * cols], 1, cols, qc.threshold), i, count[i],
              list.data() + i * cols);
    }
  } else {
    compare(ql::quant::quantize_activations(row_major.data(), rows, cols, qc.threshold), 0, count[0], list.data());
  }
  EXPECT_EQ(bad_lists, 0u) << what << ": outlier columns differ";
  EXPECT_EQ(bad_absmax, 0u) << what << ": absmax differs (bit patterns)";
  EXPECT_EQ(bad_codes, 0u) << what << ": rows of codes differ";
}

TEST(GpuInt8Activations, LayoutIsAlignedAndInBounds) {
  for (auto mode : {OutlierMode::kUnion, OutlierMode::kPerRow}) {
    const int64_t rows = 37, cols = 100;
    const size_t bytes = ql::gpu::int8_activations_bytes(rows, cols, mode);
    alignas(256) static unsigned char base[1 << 16];
    ASSERT_LE(bytes, sizeof(base));
    const Int8Activations a = ql::gpu::int8_activations_in(base, rows, cols, mode);
    auto off = [&](const void* p) { return static_cast<size_t>(static_cast<const unsigned char*>(p) - base); };
    EXPECT_EQ(off(a.codes) % 256, 0u);
    EXPECT_EQ(off(a.absmax) % 256, 0u);
    EXPECT_EQ(off(a.outlier_count) % 256, 0u);
    EXPECT_EQ(off(a.outlier_cols) % 256, 0u);
    EXPECT_LT(off(a.codes), off(a.absmax));
    EXPECT_GE(off(a.absmax), static_cast<size_t>(rows * cols));
    EXPECT_GE(off(a.outlier_count), off(a.absmax) + rows * 4);
    const size_t counts = mode == OutlierMode::kPerRow ? rows : 1;
    EXPECT_GE(off(a.outlier_cols), off(a.outlier_count) + counts * 4);
    const size_t list = mode == OutlierMode::kPerRow ? rows * cols : cols;
    EXPECT_LE(off(a.outlier_cols) + list * 4, bytes);
    EXPECT_EQ(a.rows, rows);
    EXPECT_EQ(a.cols, cols);
    EXPECT_EQ(a.mode, mode);
  }
}

TEST(GpuInt8Activations, MatchesCpuOnShapesThresholdsAndModes) {
  // Small x takes the one-block union kernel, larger x (rows * cols > 65536)
  // the flags + compaction + row kernels; both modes, with and without threshold.
  const int64_t shapes[][2] = {{1, 24}, {3, 40}, {16, 2048}, {37, 100}, {300, 4304}, {1000, 130}, {4096, 2048}};
  int idx = 0;
  for (const auto& sh : shapes) {
    for (float threshold : {0.0f, 6.0f, 0.5f}) {
      for (auto mode : {OutlierMode::kUnion, OutlierMode::kPerRow}) {
        const int64_t rows = sh[0], cols = sh[1];
        const int64_t ldx = cols + (idx % 3 == 0 ? 0 : idx % 3 == 1 ? 1 : 8);
        const std::vector<float> x = make_x(rows, cols, ldx, 100 + idx);
        const QuantCase qc{rows, cols, ldx, threshold, mode};
        check_quantizer(x, qc, "x [" + std::to_string(rows) + ", " + std::to_string(cols) + "] threshold " +
                                   std::to_string(threshold) + (mode == OutlierMode::kPerRow ? " per-row" : " union"));
        ++idx;
      }
    }
  }
}

TEST(GpuInt8Activations, SpecialValuesMatchCpu) {
  // NaNs (several payloads and signs; absmax must be a NaN, not a number),
  // infinities, rows of zeros, a tiny row (127 / absmax overflows to inf),
  // a row that is only outliers at threshold 6, ties at .5 after scaling.
  const int64_t cols = 77;
  for (int64_t rows : {5, 900}) {  // one-block and multi-kernel union paths
    std::vector<float> x(static_cast<size_t>(rows * cols));
    fill_uniform(x, 7);
    auto bits = [](uint32_t b) {
      float f;
      std::memcpy(&f, &b, 4);
      return f;
    };
    for (int64_t i = 0; i < rows; ++i) {
      float* r = &x[i * cols];
      switch (i % 5) {
        case 0:
          r[3] = bits(0x7fc00001u);
          r[40] = bits(0xffc01234u);  // the last NaN, negative: absmax is its fabs
          r[10] = 100.0f;             // an outlier at threshold 6
          break;
        case 1: std::fill(r, r + cols, 0.0f); r[5] = -0.0f; break;
        case 2:
          for (int64_t c = 0; c < cols; ++c) r[c] = r[c] * 1e-40f;  // subnormal absmax
          break;
        case 3:
          // absmax 127 at threshold 0: scale is exactly 1, so x = k + 0.5 are ties.
          r[0] = 127.0f;
          for (int64_t c = 1; c < cols; ++c) r[c] = static_cast<float>(c % 9) - 4.5f;
          break;
        default:
          std::fill(r, r + cols, 50.0f);
          r[7] = std::numeric_limits<float>::infinity();
          r[8] = -std::numeric_limits<float>::infinity();
          break;
      }
    }
    for (float threshold : {0.0f, 6.0f}) {
      for (auto mode : {OutlierMode::kUnion, OutlierMode::kPerRow}) {
        check_quantizer(x, QuantCase{rows, cols, cols, threshold, mode},
                        "special values, rows " + std::to_string(rows) + " threshold " + std::to_string(threshold) +
                            (mode == OutlierMode::kPerRow ? " per-row" : " union"));
      }
    }
  }
}

TEST(GpuInt8Activations, Timing) {
  // Decode (1 x 2048) and prefill (4096 x 2048, 4096 x 4304) quantization.
  const int64_t shapes[][2] = {{1, 2048}, {4096, 2048}, {4096, 4304}};
  for (const auto& sh : shapes) {
    const int64_t rows = sh[0], cols = sh[1];
    const std::vector<float> x = make_x(rows, cols, cols, 5);
    check_quantizer(x, QuantCase{rows, cols, cols, 6.0f, OutlierMode::kUnion}, "timing shape");
    DeviceBuffer dx = to_device(x);
    DeviceBuffer storage(ql::gpu::int8_activations_bytes(rows, cols, OutlierMode::kUnion));
    const Int8Activations a = ql::gpu::int8_activations_in(storage.get(), rows, cols, OutlierMode::kUnion);
    cudaEvent_t e0, e1;
    QL_GPU_ASSERT(cudaEventCreate(&e0));
    QL_GPU_ASSERT(cudaEventCreate(&e1));
    std::vector<float> ms;
    for (int it = 0; it < 23; ++it) {
      QL_GPU_ASSERT(cudaEventRecord(e0));
      QL_GPU_ASSERT(ql::gpu::launch_quantize_int8_activations(dx.get<float>(), cols, 6.0f, a, nullptr));
      QL_GPU_ASSERT(cudaEventRecord(e1));
      QL_GPU_ASSERT(cudaEventSynchronize(e1));
      float t = 0;
      QL_GPU_ASSERT(cudaEventElapsedTime(&t, e0, e1));
      if (it >= 3) ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2];
    const double bytes = static_cast<double>(rows) * cols * 5;  // read fp32, write int8
    std::printf("TIMING int8_activations [%lld, %lld] union t=6: %.2f us, %.1f GB/s\n", static_cast<long long>(rows),
                static_cast<long long>(cols), med * 1e3, bytes / (med * 1e-3) / 1e9);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
  }
}

// ---- matvec -----------------------------------------------------------------------------

TEST(GpuMatvec, OddShapesEveryFormat) {
  const int64_t rows_list[] = {1, 3, 37, 1000};
  const int64_t cols_list[] = {24, 40, 48, 72, 100, 130, 4304};
  const int64_t ns[] = {1, 3, 8, 16};
  int idx = 0;
  for (WFormat f : kAllFormats) {
    for (int64_t rows : rows_list) {
      for (int64_t cols : cols_list) {
        HostWeight hw;
        ASSERT_NO_FATAL_FAILURE(make_weight(f, rows, cols, 1, 1000 + idx, &hw));
        Spec s;
        s.hw = &hw;
        s.bias = (idx >> 1) & 1;
        const int64_t n = ns[idx % 4];
        const int64_t pad = idx % 3 == 0 ? 0 : idx % 3 == 1 ? 1 : 4;  // unaligned and aligned x rows
        const float threshold = (idx & 4) ? 0.0f : 6.0f;
        ASSERT_NO_FATAL_FAILURE(run_case({s}, n, pad, idx & 1, threshold, 50 + idx));
        ++idx;
      }
    }
  }
}

TEST(GpuMatvec, MatrixTwoOfAStackOfThree) {
  const int64_t shapes[][2] = {{37, 72}, {1000, 130}, {512, 2048}, {129, 4304}};
  int idx = 0;
  for (WFormat f : kAllFormats) {
    for (const auto& sh : shapes) {
      HostWeight hw;
      ASSERT_NO_FATAL_FAILURE(make_weight(f, sh[0], sh[1], 3, 2000 + idx, &hw));
      Spec s;
      s.hw = &hw;
      s.matrix = 2;
      s.bias = idx & 1;
      for (int64_t n : {1, 8}) ASSERT_NO_FATAL_FAILURE(run_case({s}, n, 0, (idx >> 1) & 1, 6.0f, 60 + idx));
      ++idx;
    }
  }
}

TEST(GpuMatvec, RowViewsOfAFusedWeightInOneLaunch) {
  // A fused [3d, d] weight (e.g. vision qkv) seen as three [d, d] views, the
  // three products in one launch.
  int idx = 0;
  for (WFormat f : kAllFormats) {
    for (int64_t d : {40, 48, 1152}) {
      HostWeight hw;
      ASSERT_NO_FATAL_FAILURE(make_weight(f, 3 * d, d, 1, 3000 + idx, &hw));
      std::vector<Spec> specs(3);
      for (int k = 0; k < 3; ++k) {
        specs[k].hw = &hw;
        specs[k].first_row = k * d;
        specs[k].rows = d;
        specs[k].bias = k == 1;
      }
      for (int64_t n : {1, 3, 16}) ASSERT_NO_FATAL_FAILURE(run_case(specs, n, 0, n == 3, 6.0f, 70 + idx));
      ++idx;
    }
  }
}

TEST(GpuMatvec, QkvRealShapesThreeTargets) {
  // q [4096, 2048], k and v [512, 2048] of one layer, n = 1, 3, 8, 16.
  int idx = 0;
  for (WFormat f : {WFormat::kBF16, WFormat::kF16, WFormat::kInt8, WFormat::kNF4}) {
    HostWeight q, k, v;
    ASSERT_NO_FATAL_FAILURE(make_weight(f, 4096, 2048, 1, 4000 + idx, &q));
    ASSERT_NO_FATAL_FAILURE(make_weight(f, 512, 2048, 1, 4100 + idx, &k));
    ASSERT_NO_FATAL_FAILURE(make_weight(f, 512, 2048, 1, 4200 + idx, &v));
    std::vector<Spec> specs(3);
    specs[0].hw = &q;
    specs[1].hw = &k;
    specs[2].hw = &v;
    specs[1].bias = true;
    for (int64_t n : {1, 3, 8, 16}) {
      ASSERT_NO_FATAL_FAILURE(run_case(specs, n, 0, n == 8, n == 3 ? 0.0f : 6.0f, 80 + idx));
      ++idx;
    }
  }
}

TEST(GpuMatvec, RealShapesOprojRouterAllN) {
  int idx = 0;
  for (WFormat f : {WFormat::kBF16, WFormat::kF16, WFormat::kInt8, WFormat::kNF4}) {
    HostWeight o, router;
    ASSERT_NO_FATAL_FAILURE(make_weight(f, 2048, 4096, 1, 5000 + idx, &o));
    ASSERT_NO_FATAL_FAILURE(make_weight(f, 128, 2048, 1, 5100 + idx, &router));
    for (int64_t n : {1, 4, 8, 16}) {
      Spec so;
      so.hw = &o;
      ASSERT_NO_FATAL_FAILURE(run_case({so}, n, 0, n == 4, 6.0f, 90 + idx));
      Spec sr;
      sr.hw = &router;
      sr.bias = n == 8;
      ASSERT_NO_FATAL_FAILURE(run_case({sr}, n, 0, false, 6.0f, 95 + idx));
      ++idx;
    }
  }
}

TEST(GpuMatvec, MixedFormatsAndPathsInOneLaunch) {
  // bf16 (fast), int8 (fast), nf4 (fast) and f32 (simple path) at cols 2048;
  // then cols 72 where int8 and nf4 take the simple path beside fast bf16.
  for (int64_t cols : {2048, 72}) {
    HostWeight a, b, c, d;
    ASSERT_NO_FATAL_FAILURE(make_weight(WFormat::kBF16, 300, cols, 1, 6000, &a));
    ASSERT_NO_FATAL_FAILURE(make_weight(WFormat::kInt8, 37, cols, 1, 6001, &b));
    ASSERT_NO_FATAL_FAILURE(make_weight(WFormat::kNF4, 1000, cols, 3, 6002, &c));
    ASSERT_NO_FATAL_FAILURE(make_weight(WFormat::kF32, 3, cols, 1, 6003, &d));
    std::vector<Spec> specs(4);
    specs[0].hw = &a;
    specs[1].hw = &b;
    specs[1].bias = true;
    specs[2].hw = &c;
    specs[2].matrix = 1;
    specs[3].hw = &d;
    for (int64_t n : {1, 8, 16}) ASSERT_NO_FATAL_FAILURE(run_case(specs, n, 1, n == 8, 6.0f, 100 + n));
  }
}

TEST(GpuMatvec, Int8PerRowOutliersMatchRowByRow) {
  // kPerRow activations: each row i is int8_matmul of row i alone.
  const int64_t rows = 300, cols = 2048, n = 5;
  HostWeight hw;
  ASSERT_NO_FATAL_FAILURE(make_weight(WFormat::kInt8, rows, cols, 1, 7000, &hw));
  const std::vector<float> x = make_x(n, cols, cols, 7001);
  DeviceBuffer dx = to_device(x);
  DeviceBuffer storage(ql::gpu::int8_activations_bytes(n, cols, OutlierMode::kPerRow));
  const Int8Activations xq = ql::gpu::int8_activations_in(storage.get(), n, cols, OutlierMode::kPerRow);
  QL_GPU_ASSERT(ql::gpu::launch_quantize_int8_activations(dx.get<float>(), cols, 6.0f, xq, nullptr));
  DeviceBuffer dy(sizeof(float) * n * rows);
  poison_f32(dy);
  MatvecTarget t;
  t.w = hw.dev.w;
  t.y = dy.get<float>();
  t.ldy = rows;
  QL_GPU_ASSERT(ql::gpu::launch_matvec(&t, 1, dx.get<float>(), cols, n, &xq, false, nullptr));
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  const std::vector<float> y = to_host<float>(dy, n * rows);
  size_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> want(rows);
    ql::quant::Int8MatmulOptions opt;
    opt.outlier_threshold = 6.0f;
    ASSERT_TRUE(ql::quant::int8_matmul(&x[i * cols], 1, hw.int8[0], want.data(), opt).ok());
    for (int64_t r = 0; r < rows; ++r) {
      const float g = y[i * rows + r];
      bad += kCpuExactInt8 ? std::memcmp(&g, &want[r], 4) != 0
                           : !(std::fabs(g - want[r]) <= 1e-5f * (std::fabs(want[r]) + 10.0f));
    }
  }
  EXPECT_EQ(bad, 0u);
}

TEST(GpuMatvec, SameInputsSameBits) {
  // Two launches of every fast path give bitwise the same outputs.
  for (WFormat f : {WFormat::kBF16, WFormat::kF16, WFormat::kInt8, WFormat::kNF4}) {
    HostWeight hw;
    ASSERT_NO_FATAL_FAILURE(make_weight(f, 128, 2048, 1, 8000, &hw));
    Spec s;
    s.hw = &hw;
    std::vector<std::vector<float>> y1, y2;
    ASSERT_NO_FATAL_FAILURE(run_case({s}, 3, 0, false, 6.0f, 8001, &y1));
    ASSERT_NO_FATAL_FAILURE(run_case({s}, 3, 0, false, 6.0f, 8001, &y2));
    ASSERT_EQ(y1.size(), y2.size());
    for (size_t k = 0; k < y1.size(); ++k) {
      ASSERT_EQ(y1[k].size(), y2[k].size());
      EXPECT_EQ(std::memcmp(y1[k].data(), y2[k].data(), 4 * y1[k].size()), 0) << format_name(f);
    }
  }
}

TEST(GpuMatvec, RejectsBadArguments) {
  HostWeight a, b;
  ASSERT_NO_FATAL_FAILURE(make_weight(WFormat::kBF16, 8, 64, 1, 9000, &a));
  ASSERT_NO_FATAL_FAILURE(make_weight(WFormat::kInt8, 8, 32, 1, 9001, &b));
  DeviceBuffer dx(sizeof(float) * 17 * 64), dy(sizeof(float) * 17 * 8);
  MatvecTarget t;
  t.w = a.dev.w;
  t.y = dy.get<float>();
  t.ldy = 8;
  const float* x = dx.get<float>();
  EXPECT_EQ(ql::gpu::launch_matvec(&t, 1, x, 64, 0, nullptr, false, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(ql::gpu::launch_matvec(&t, 1, x, 64, 17, nullptr, false, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(ql::gpu::launch_matvec(&t, 1, x, 63, 1, nullptr, false, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(ql::gpu::launch_matvec(&t, 0, x, 64, 1, nullptr, false, nullptr), cudaErrorInvalidValue);
  MatvecTarget two[2] = {t, t};
  two[1].w = b.dev.w;  // other cols
  EXPECT_EQ(ql::gpu::launch_matvec(two, 2, x, 64, 1, nullptr, false, nullptr), cudaErrorInvalidValue);
  MatvecTarget i8 = t;
  i8.w = b.dev.w;
  EXPECT_EQ(ql::gpu::launch_matvec(&i8, 1, x, 64, 1, nullptr, false, nullptr), cudaErrorInvalidValue);  // no xq
  MatvecTarget m = t;
  m.matrix = 1;  // stack of 1
  EXPECT_EQ(ql::gpu::launch_matvec(&m, 1, x, 64, 1, nullptr, false, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// ---- timing -------------------------------------------------------------------------------

// Copies of a weight's large arrays, so timed runs rotate through more than the
// 50 MB L2 (small arrays - scb, nested absmax, maps - are shared).
struct Copies {
  std::vector<DeviceBuffer> bufs;
  std::vector<DeviceWeight> w;
};

void make_copies(const HostWeight& hw, int count, Copies* out) {
  const DeviceWeight& base = hw.dev.w;
  const int64_t e = base.stack * base.stored_rows * base.cols;
  auto copy_array = [&](const void* src, size_t bytes) -> const void* {
    out->bufs.emplace_back(bytes * count);
    unsigned char* dst = out->bufs.back().get<unsigned char>();
    EXPECT_NE(dst, nullptr);
    for (int k = 0; k < count; ++k) cudaMemcpy(dst + k * bytes, src, bytes, cudaMemcpyDeviceToDevice);
    return dst;
  };
  out->w.assign(count, base);
  switch (base.format) {
    case WFormat::kInt8: {
      auto* p = static_cast<const int8_t*>(copy_array(base.codes, e));
      for (int k = 0; k < count; ++k) out->w[k].codes = p + k * e;
      break;
    }
    case WFormat::kNF4: {
      const size_t pb = static_cast<size_t>(base.packed_stride * base.stack);
      const size_t ab = static_cast<size_t>(base.absmax_stride * base.stack);
      const size_t pstride = (pb + 255) / 256 * 256, astride = (ab + 255) / 256 * 256;
      out->bufs.emplace_back(pstride * count);
      out->bufs.emplace_back(astride * count);
      auto* pk = out->bufs[out->bufs.size() - 2].get<unsigned char>();
      auto* ac = out->bufs.back().get<unsigned char>();
      for (int k = 0; k < count; ++k) {
        cudaMemcpy(pk + k * pstride, base.packed, pb, cudaMemcpyDeviceToDevice);
        cudaMemcpy(ac + k * astride, base.absmax_codes, ab, cudaMemcpyDeviceToDevice);
        out->w[k].packed = pk + k * pstride;
        out->w[k].absmax_codes = ac + k * astride;
      }
      break;
    }
    default: {
      const size_t es = base.format == WFormat::kF32 ? 4 : 2;
      auto* p = static_cast<const unsigned char*>(copy_array(base.data, e * es));
      for (int k = 0; k < count; ++k) out->w[k].data = p + k * e * es;
      break;
    }
  }
}

struct TimingShape {
  const char* name;
  std::vector<std::pair<int64_t, int64_t>> targets;  // [rows, cols] each
};

TEST(GpuMatvec, Timing) {
  const std::vector<TimingShape> shapes = {
      {"qkv [4096+512+512, 2048]", {{4096, 2048}, {512, 2048}, {512, 2048}}},
      {"o_proj [2048, 4096]", {{2048, 4096}}},
      {"router [128, 2048]", {{128, 2048}}},
      {"lm_head [151936, 2048]", {{151936, 2048}}},
  };
  int idx = 0;
  for (WFormat f : {WFormat::kBF16, WFormat::kF16, WFormat::kInt8, WFormat::kNF4}) {
    for (const auto& shape : shapes) {
      const int nt = static_cast<int>(shape.targets.size());
      std::vector<HostWeight> hws(nt);
      double bytes = 0;
      for (int k = 0; k < nt; ++k) {
        ASSERT_NO_FATAL_FAILURE(
            make_weight(f, shape.targets[k].first, shape.targets[k].second, 1, 10000 + 10 * idx + k, &hws[k]));
        bytes += matrix_bytes(hws[k]);
      }
      const int copies = static_cast<int>(std::max(1.0, std::ceil(256e6 / bytes)));
      std::vector<Copies> cp(nt);
      for (int k = 0; k < nt; ++k) ASSERT_NO_FATAL_FAILURE(make_copies(hws[k], copies, &cp[k]));
      const int64_t cols = shape.targets[0].second;

      for (int64_t n : {1, 4, 8}) {
        const std::vector<float> x = make_x(n, cols, cols, 11000 + idx);
        DeviceBuffer dx = to_device(x);
        DeviceBuffer xqb(ql::gpu::int8_activations_bytes(n, cols, OutlierMode::kUnion));
        const Int8Activations xq = ql::gpu::int8_activations_in(xqb.get(), n, cols, OutlierMode::kUnion);
        QL_GPU_ASSERT(ql::gpu::launch_quantize_int8_activations(dx.get<float>(), cols, 6.0f, xq, nullptr));
        std::vector<DeviceBuffer> dy(nt);
        std::vector<MatvecTarget> t(nt);
        for (int k = 0; k < nt; ++k) {
          dy[k] = DeviceBuffer(sizeof(float) * n * hws[k].rows);
          poison_f32(dy[k]);
          t[k].w = cp[k].w[0];
          t[k].y = dy[k].get<float>();
          t[k].ldy = hws[k].rows;
        }
        QL_GPU_ASSERT(ql::gpu::launch_matvec(t.data(), nt, dx.get<float>(), cols, n, &xq, false, nullptr));
        QL_GPU_ASSERT(cudaDeviceSynchronize());
        std::vector<std::vector<float>> first(nt);
        for (int k = 0; k < nt; ++k) first[k] = to_host<float>(dy[k], n * hws[k].rows);

        // Correctness on sampled rows (all rows of the small shapes).
        const auto xq_cpu = ql::quant::quantize_activations(x.data(), n, cols, 6.0f);
        std::vector<float> wrow(cols), ow(xq_cpu.outlier_cols.size() + 1), yi(n);
        for (int k = 0; k < nt; ++k) {
          const HostWeight& hw = hws[k];
          const int64_t step = hw.rows > 20000 ? 613 : 1;
          std::vector<int64_t> check_rows;
          for (int64_t r = 0; r < hw.rows; r += step) check_rows.push_back(r);
          if (check_rows.back() != hw.rows - 1) check_rows.push_back(hw.rows - 1);
          size_t bad = 0;
          for (const int64_t r : check_rows) {
            if (f == WFormat::kInt8) {
              ql::quant::int8_matmul_rows(x.data(), xq_cpu, hw.int8[0], r, 1, yi.data(), 1, ow.data());
              for (int64_t i = 0; i < n; ++i) {
                const float g = first[k][i * hw.rows + r];
                bad += kCpuExactInt8 ? std::memcmp(&g, &yi[i], 4) != 0
                                     : !(std::fabs(g - yi[i]) <= 1e-5f * (std::fabs(yi[i]) + 10.0f));
              }
            } else {
              hw.rows_of(0, r, 1, wrow.data());
              for (int64_t i = 0; i < n; ++i) {
                double dot = 0, mag = 0;
                for (int64_t c = 0; c < cols; ++c) {
                  const double p = static_cast<double>(x[i * cols + c]) * wrow[c];
                  dot += p;
                  mag += std::fabs(p);
                }
                bad += !(std::fabs(first[k][i * hw.rows + r] - dot) <= 2e-5 * mag);  // see run_case
              }
            }
          }
          EXPECT_EQ(bad, 0u) << format_name(f) << " " << shape.name << " target " << k << " n=" << n;
        }

        cudaEvent_t e0, e1;
        QL_GPU_ASSERT(cudaEventCreate(&e0));
        QL_GPU_ASSERT(cudaEventCreate(&e1));
        std::vector<float> ms;
        for (int it = 0; it < 23; ++it) {
          for (int k = 0; k < nt; ++k) t[k].w = cp[k].w[it % copies];
          QL_GPU_ASSERT(cudaEventRecord(e0));
          QL_GPU_ASSERT(ql::gpu::launch_matvec(t.data(), nt, dx.get<float>(), cols, n, &xq, false, nullptr));
          QL_GPU_ASSERT(cudaEventRecord(e1));
          QL_GPU_ASSERT(cudaEventSynchronize(e1));
          float tm = 0;
          QL_GPU_ASSERT(cudaEventElapsedTime(&tm, e0, e1));
          if (it >= 3) ms.push_back(tm);
        }
        std::sort(ms.begin(), ms.end());
        const double med = ms[ms.size() / 2];
        std::printf("TIMING matvec %s %s n=%lld: %.2f us, %.1f GB/s of weights (%d copies rotated)\n", format_name(f),
                    shape.name, static_cast<long long>(n), med * 1e3, bytes / (med * 1e-3) / 1e9, copies);
        // Every copy holds the same weight: the last run's outputs equal the first's, bit for bit.
        for (int k = 0; k < nt; ++k) {
          const std::vector<float> last = to_host<float>(dy[k], n * hws[k].rows);
          EXPECT_EQ(std::memcmp(last.data(), first[k].data(), 4 * last.size()), 0)
              << format_name(f) << " " << shape.name << ": not deterministic";
        }
        cudaEventDestroy(e0);
        cudaEventDestroy(e1);
        QL_GPU_ASSERT(cudaGetLastError());
      }
      ++idx;
    }
  }
}

}  // namespace
