// GPU dense GEMM (gpu/kernels/dense_gemm.cuh) against a double-precision
// reference of the rounded inputs: x rounded to the weight's 16-bit type as the
// wrapper rounds it, so the tolerance only covers fp32 accumulation order.
#include <cublasLt.h>
#include <cublas_v2.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "gpu/kernels/dense_gemm.cuh"
#include "tests/gpu/gpu_test_support.h"

namespace {

using ql::gpu::DeviceWeight;
using ql::gpu::GemmContext;
using ql::gpu::WFormat;
using namespace ql::gpu::test;

// Relative error tolerances (norm-wise, ||y - ref|| / ||ref||). The inputs of
// the reference are exactly the values the GPU multiplies, so only the fp32
// accumulation order differs: ~sqrt(K) * 2^-24 relative for K <= 4608 is below
// 1e-5; 16-bit paths get 1e-4 for cuBLASLt's split/blocked summation orders.
constexpr double kTol16 = 1e-4;
constexpr double kTol32 = 1e-5;

class GpuDenseGemm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(cublasLtCreate(&lt_), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasCreate(&blas_), CUBLAS_STATUS_SUCCESS);
    ws_ = new DeviceBuffer(size_t(32) << 20);
    ASSERT_NE(ws_->get(), nullptr);
  }
  static void TearDownTestSuite() {
    delete ws_;
    ws_ = nullptr;
    cublasLtDestroy(lt_);
    cublasDestroy(blas_);
  }
  static GemmContext ctx() { return GemmContext{lt_, blas_, ws_->get(), ws_->bytes()}; }

  static cublasLtHandle_t lt_;
  static cublasHandle_t blas_;
  static DeviceBuffer* ws_;
};
cublasLtHandle_t GpuDenseGemm::lt_ = nullptr;
cublasHandle_t GpuDenseGemm::blas_ = nullptr;
DeviceBuffer* GpuDenseGemm::ws_ = nullptr;

float round_like(WFormat f, float v) {
  if (f == WFormat::kBF16) return ql::bf16_to_f32(ql::f32_to_bf16(v));
  if (f == WFormat::kF16) return ql::f16_to_f32(ql::f32_to_f16(v));
  return v;
}

struct Case {
  WFormat format = WFormat::kBF16;
  int64_t n = 1, N = 1, K = 1;
  int64_t ldx_pad = 0, ldy_pad = 0;
  int64_t x_offset = 0;  // floats before x's first element (unaligned x)
  bool bias = false;
  bool accumulate = false;
  int64_t stack = 1, matrix = 0;
  int64_t first_row = 0, extra_rows = 0;  // row view of a larger stored matrix
  int64_t check_rows = 0;                 // 0: every row; else this many rows spread over n
  uint32_t seed = 1;
};

void run_case(const GemmContext& ctx, const Case& c) {
  SCOPED_TRACE(::testing::Message() << "format " << static_cast<int>(c.format) << " n " << c.n << " N " << c.N
                                    << " K " << c.K << " bias " << c.bias << " acc " << c.accumulate);
  const int64_t stored_rows = c.first_row + c.N + c.extra_rows;
  const std::vector<float> wv = random_floats(static_cast<size_t>(c.stack * stored_rows * c.K), c.seed);
  std::vector<float> wr;
  TestWeight tw = upload_dense(c.format, wv, stored_rows, c.K, c.stack, &wr);
  tw.w.rows = c.N;
  tw.w.first_row = c.first_row;
  const int64_t ldx = c.K + c.ldx_pad, ldy = c.N + c.ldy_pad;

  std::vector<float> xh = random_floats(static_cast<size_t>(c.x_offset + c.n * ldx), c.seed + 1);
  std::vector<float> bias = random_floats(static_cast<size_t>(c.N), c.seed + 2);
  std::vector<float> y0 = random_floats(static_cast<size_t>(c.n * ldy), c.seed + 3);
  DeviceBuffer xd = to_device(xh), bd = to_device(bias), yd(y0.size() * sizeof(float));
  if (c.accumulate) {
    QL_GPU_ASSERT(cudaMemcpy(yd.get(), y0.data(), yd.bytes(), cudaMemcpyHostToDevice));
  } else {
    poison_f32(yd);
  }
  DeviceBuffer scratch(std::max<size_t>(ql::gpu::dense_gemm_scratch_bytes(c.n, c.K), 16));
  int status = -1;
  QL_GPU_ASSERT(ql::gpu::launch_dense_gemm(ctx, tw.w, c.matrix, xd.get<float>() + c.x_offset, ldx, c.n,
                                            c.bias ? bd.get<float>() : nullptr, yd.get<float>(), ldy, c.accumulate,
                                            scratch.get(), nullptr, &status));
  EXPECT_EQ(status, 0);
  QL_GPU_ASSERT(cudaDeviceSynchronize());
  QL_GPU_ASSERT(cudaGetLastError());
  const std::vector<float> y = to_host<float>(yd, y0.size());

  std::vector<int64_t> check;
  if (c.check_rows <= 0 || c.check_rows >= c.n) {
    for (int64_t r = 0; r < c.n; ++r) check.push_back(r);
  } else {
    for (int64_t i = 0; i < c.check_rows; ++i) check.push_back(i * (c.n - 1) / (c.check_rows - 1 > 0 ? c.check_rows - 1 : 1));
  }
  std::vector<float> got;
  std::vector<double> want;
  std::vector<double> xrow(static_cast<size_t>(c.K));
  const float* wm = wr.data() + (c.matrix * stored_rows + c.first_row) * c.K;
  for (int64_t r : check) {
    for (int64_t k = 0; k < c.K; ++k) xrow[k] = round_like(c.format, xh[c.x_offset + r * ldx + k]);
    for (int64_t o = 0; o < c.N; ++o) {
      double s = c.accumulate ? y0[r * ldy + o] : 0.0;
      const float* wrow = wm + o * c.K;
      double dot = 0.0;
      for (int64_t k = 0; k < c.K; ++k) dot += xrow[k] * static_cast<double>(wrow[k]);
      s += dot;
      if (c.bias) s += bias[o];
      got.push_back(y[r * ldy + o]);
      want.push_back(s);
    }
  }
  EXPECT_EQ(count_nan(got), 0u);
  EXPECT_LT(relative_error(got, want), c.format == WFormat::kF32 ? kTol32 : kTol16);
  // Padding columns of y are never written.
  size_t pad_touched = 0;
  for (int64_t r = 0; r < c.n; ++r)
    for (int64_t o = c.N; o < ldy; ++o) {
      const float v = y[r * ldy + o];
      if (c.accumulate ? v != y0[r * ldy + o] : !std::isnan(v)) ++pad_touched;
    }
  EXPECT_EQ(pad_touched, 0u);
}

TEST_F(GpuDenseGemm, OddShapesEveryFormat) {
  uint32_t seed = 10;
  for (WFormat f : {WFormat::kBF16, WFormat::kF16, WFormat::kF32}) {
    for (int64_t n : {1, 3, 37, 1000}) {
      for (int64_t K : {24, 40, 72, 100}) {
        for (int64_t N : {1, 20}) {
          Case c;
          c.format = f;
          c.n = n;
          c.N = N;
          c.K = K;
          c.seed = seed++;
          run_case(ctx(), c);
        }
      }
    }
  }
}

TEST_F(GpuDenseGemm, BiasAccumulateStridesAndViews) {
  uint32_t seed = 100;
  for (WFormat f : {WFormat::kBF16, WFormat::kF16, WFormat::kF32}) {
    for (bool bias : {false, true}) {
      for (bool acc : {false, true}) {
        Case c;
        c.format = f;
        c.n = 37;
        c.N = 200;
        c.K = 136;
        c.bias = bias;
        c.accumulate = acc;
        c.ldx_pad = 8;
        c.ldy_pad = 5;
        c.seed = seed++;
        run_case(ctx(), c);
        // Row view (rows [48, 248) of matrix 1 of a stack of 2), unaligned x, odd strides.
        c.stack = 2;
        c.matrix = 1;
        c.first_row = 48;
        c.extra_rows = 3;
        c.x_offset = 1;
        c.ldx_pad = 3;
        c.ldy_pad = 1;
        c.K = 100;
        c.seed = seed++;
        run_case(ctx(), c);
      }
    }
  }
}

TEST_F(GpuDenseGemm, LmHeadShape) {
  // [151936, 2048] with 2 rows: the head's shape (n = 1..8).
  for (int64_t n : {1, 2, 8}) {
    Case c;
    c.format = WFormat::kBF16;
    c.n = n;
    c.N = 151936;
    c.K = 2048;
    c.seed = 500 + static_cast<uint32_t>(n);
    run_case(ctx(), c);
  }
}

TEST_F(GpuDenseGemm, RealShapesSampledRows) {
  struct S {
    int64_t n, N, K;
    bool bias;
  };
  const S shapes[] = {{512, 4096, 2048, false}, {512, 512, 2048, false},  {512, 2048, 4096, false},
                      {4096, 3456, 1152, true}, {4096, 1152, 1152, true}, {4096, 4304, 1152, true},
                      {4096, 1152, 4304, true}, {1024, 4608, 4608, true}, {1024, 2048, 4608, true}};
  uint32_t seed = 700;
  for (const S& s : shapes) {
    Case c;
    c.format = WFormat::kBF16;
    c.n = s.n;
    c.N = s.N;
    c.K = s.K;
    c.bias = s.bias;
    c.check_rows = 6;
    c.seed = seed++;
    run_case(ctx(), c);
  }
}

// The same call captured in a CUDA graph gives bitwise the launch's result,
// also for a shape whose algorithm is first chosen during the capture.
TEST_F(GpuDenseGemm, GraphCaptureMatchesBitwise) {
  const int64_t n = 77, N = 300, K = 264;
  std::vector<float> wr;
  TestWeight tw = upload_dense(WFormat::kBF16, random_floats(N * K, 31), N, K, 1, &wr);
  DeviceBuffer xd = to_device(random_floats(n * K, 32));
  DeviceBuffer bd = to_device(random_floats(N, 33));
  DeviceBuffer y1(n * N * sizeof(float)), y2(n * N * sizeof(float));
  DeviceBuffer scratch(ql::gpu::dense_gemm_scratch_bytes(n, K));
  cudaStream_t stream;
  QL_GPU_ASSERT(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  {
    // Warm-up with another shape (kernel modules loaded outside the capture).
    DeviceBuffer yw(n * N * sizeof(float)), sw(ql::gpu::dense_gemm_scratch_bytes(n, K));
    DeviceWeight half = tw.w;
    half.rows = N / 2;
    QL_GPU_ASSERT(ql::gpu::launch_dense_gemm(ctx(), half, 0, xd.get<float>(), K, n, bd.get<float>(), yw.get<float>(),
                                              N / 2, false, sw.get(), stream));
    QL_GPU_ASSERT(cudaStreamSynchronize(stream));
  }
  poison_f32(y2);
  // Captured first: the plan for this shape is made inside the capture.
  cudaGraph_t graph;
  QL_GPU_ASSERT(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  const cudaError_t le = ql::gpu::launch_dense_gemm(ctx(), tw.w, 0, xd.get<float>(), K, n, bd.get<float>(),
                                                    y2.get<float>(), N, false, scratch.get(), stream);
  QL_GPU_ASSERT(cudaStreamEndCapture(stream, &graph));
  QL_GPU_ASSERT(le);
  cudaGraphExec_t exec;
  QL_GPU_ASSERT(cudaGraphInstantiate(&exec, graph, 0));
  QL_GPU_ASSERT(cudaGraphLaunch(exec, stream));
  QL_GPU_ASSERT(cudaStreamSynchronize(stream));
  poison_f32(y1);
  QL_GPU_ASSERT(ql::gpu::launch_dense_gemm(ctx(), tw.w, 0, xd.get<float>(), K, n, bd.get<float>(), y1.get<float>(), N,
                                            false, scratch.get(), stream));
  QL_GPU_ASSERT(cudaStreamSynchronize(stream));
  const auto a = to_host<float>(y1, n * N), b = to_host<float>(y2, n * N);
  EXPECT_EQ(count_nan(a), 0u);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST_F(GpuDenseGemm, Timing) {
  struct S {
    int64_t n, N, K;
    const char* what;
  };
  const S shapes[] = {{512, 4096, 2048, "text [4096, 2048] n=512"}, {4096, 4304, 1152, "vision [4304, 1152] n=4096"}};
  cudaEvent_t start, stop;
  QL_GPU_ASSERT(cudaEventCreate(&start));
  QL_GPU_ASSERT(cudaEventCreate(&stop));
  for (const S& s : shapes) {
    // Enough copies of (W, x, y) that each run reads from DRAM, not the 50 MB L2.
    const double set_bytes = double(s.N) * s.K * 2 + double(s.n) * s.K * 6 + double(s.n) * s.N * 4;
    const int sets = std::max(1, std::min(8, static_cast<int>(120e6 / set_bytes) + 1));
    std::vector<TestWeight> ws;
    std::vector<DeviceBuffer> xs, ys, scratch;
    std::vector<float> wr0;
    std::vector<float> x0 = random_floats(s.n * s.K, 900);
    for (int i = 0; i < sets; ++i) {
      ws.push_back(upload_dense(WFormat::kBF16, random_floats(s.N * s.K, 901 + i), s.N, s.K, 1, i == 0 ? &wr0 : nullptr));
      xs.push_back(to_device(x0));
      ys.emplace_back(s.n * s.N * sizeof(float));
      scratch.emplace_back(ql::gpu::dense_gemm_scratch_bytes(s.n, s.K));
    }
    poison_f32(ys[0]);
    auto run = [&](int i) {
      return ql::gpu::launch_dense_gemm(ctx(), ws[i].w, 0, xs[i].get<float>(), s.K, s.n, nullptr, ys[i].get<float>(),
                                        s.N, false, scratch[i].get(), nullptr);
    };
    for (int i = 0; i < 3; ++i) QL_GPU_ASSERT(run(i % sets));
    std::vector<float> ms;
    for (int it = 0; it < 20; ++it) {
      QL_GPU_ASSERT(cudaEventRecord(start));
      QL_GPU_ASSERT(run(it % sets));
      QL_GPU_ASSERT(cudaEventRecord(stop));
      QL_GPU_ASSERT(cudaEventSynchronize(stop));
      float t = 0;
      QL_GPU_ASSERT(cudaEventElapsedTime(&t, start, stop));
      ms.push_back(t);
    }
    QL_GPU_ASSERT(cudaGetLastError());
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2];
    const double flops = 2.0 * s.n * s.N * s.K;
    std::printf("TIMING dense_gemm bf16 %s: %.3f ms, %.1f TFLOP/s (x rounding included)\n", s.what, med,
                flops / (med * 1e-3) / 1e12);
    // Correctness of set 0 on a few rows.
    const auto y = to_host<float>(ys[0], s.n * s.N);
    std::vector<float> got;
    std::vector<double> want;
    for (int64_t r : {int64_t(0), s.n / 3, s.n - 1}) {
      for (int64_t o = 0; o < s.N; ++o) {
        double d = 0;
        for (int64_t k = 0; k < s.K; ++k)
          d += double(round_like(WFormat::kBF16, x0[r * s.K + k])) * wr0[o * s.K + k];
        got.push_back(y[r * s.N + o]);
        want.push_back(d);
      }
    }
    EXPECT_EQ(count_nan(got), 0u);
    EXPECT_LT(relative_error(got, want), kTol16);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace
