// rms_norm (docs/model.md §9.1) and layer_norm (§6.4). Statistics are summed in
// double so that the reference is not the one that drifts; the result is fp32.
// Each group is read whole before it is written, so out may alias x.
#include <cmath>
#include <vector>

#include "core/backend/cpu_check.h"
#include "core/backend/cpu_ops.h"
#include "core/backend/cpu_tensor.h"
#include "core/backend/cpu_weight_decode.h"

namespace ql::backend::cpu {

namespace {

std::vector<float> decode_vector(const Weight& w_, int64_t length, const char* op, const char* arg) {
  const CpuWeight& w = weight_arg(w_, op, arg);
  QL_CPU_REQUIRE(w.rows() == 1 && w.cols() == length, "{}: {} {} {} must be [1, {}]", op, arg, w.name(), shape_of(w),
                 length);
  std::vector<float> v(static_cast<size_t>(length));
  decode_rows(w, 0, 1, v.data());
  return v;
}

}  // namespace

void rms_norm(ThreadPool& pool, const Tensor& x_, const Weight& w_, float eps, int64_t group, Tensor& out_) {
  const CpuTensor& x = f32_arg(x_, "rms_norm", "x");
  CpuTensor& out = f32_arg(out_, "rms_norm", "out");
  QL_CPU_REQUIRE(group > 0 && x.cols() % group == 0, "rms_norm: group {} does not divide x {}", group, shape_of(x));
  QL_CPU_REQUIRE(out.rows() == x.rows() && out.cols() == x.cols(), "rms_norm: out {} for x {}", shape_of(out),
                 shape_of(x));
  const std::vector<float> w = decode_vector(w_, group, "rms_norm", "weight");
  const int64_t groups = x.numel() / group;
  parallel_for(pool, groups, 3.0 * static_cast<double>(group), [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const float* in = x.f32() + g * group;
      float* o = out.f32() + g * group;
      double sum_sq = 0;
      for (int64_t i = 0; i < group; ++i) sum_sq += static_cast<double>(in[i]) * in[i];
      const auto inv = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(group) + eps));
      // HF order: normalise, then scale by the weight.
      for (int64_t i = 0; i < group; ++i) o[i] = w[i] * (in[i] * inv);
    }
  });
}

void layer_norm(ThreadPool& pool, const Tensor& x_, const Weight& w_, const Weight& b_, float eps, Tensor& out_) {
  const CpuTensor& x = f32_arg(x_, "layer_norm", "x");
  CpuTensor& out = f32_arg(out_, "layer_norm", "out");
  QL_CPU_REQUIRE(out.rows() == x.rows() && out.cols() == x.cols(), "layer_norm: out {} for x {}", shape_of(out),
                 shape_of(x));
  const int64_t cols = x.cols();
  const std::vector<float> w = decode_vector(w_, cols, "layer_norm", "weight");
  const std::vector<float> b = decode_vector(b_, cols, "layer_norm", "bias");
  parallel_for(pool, x.rows(), 5.0 * static_cast<double>(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* in = x.row(r);
      float* o = out.row(r);
      double sum = 0;
      for (int64_t i = 0; i < cols; ++i) sum += in[i];
      const double mean = sum / static_cast<double>(cols);
      double sum_sq = 0;  // two passes: no cancellation when |mean| >> spread
      for (int64_t i = 0; i < cols; ++i) sum_sq += (in[i] - mean) * (in[i] - mean);
      const double var = sum_sq / static_cast<double>(cols);  // biased, as torch
      const double inv = 1.0 / std::sqrt(var + eps);
      for (int64_t i = 0; i < cols; ++i) o[i] = static_cast<float>((in[i] - mean) * inv) * w[i] + b[i];
    }
  });
}

}  // namespace ql::backend::cpu
