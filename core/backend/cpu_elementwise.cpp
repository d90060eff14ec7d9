// Element-wise ops: swiglu, gelu (tanh and erf forms, docs/model.md §6.4, §6.6),
// add. Each output element depends only on the same element of the inputs,
// so out may alias any input.
#include <cmath>
#include <numbers>

#include "core/backend/cpu_check.h"
#include "core/backend/cpu_ops.h"
#include "core/backend/cpu_tensor.h"

namespace ql::backend::cpu {

namespace {

void require_same_shape(const Tensor& a, const Tensor& b, const char* op, const char* a_name, const char* b_name) {
  QL_CPU_REQUIRE(a.rows() == b.rows() && a.cols() == b.cols(), "{}: {} {} and {} {} differ", op, a_name, shape_of(a),
                 b_name, shape_of(b));
}

// Calls fn(i) for every element index on the pool; `cost` is per element.
template <typename Fn>
void for_each_element(ThreadPool& pool, int64_t n, double cost, Fn&& fn) {
  parallel_for(pool, n, cost, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) fn(i);
  });
}

}  // namespace

void swiglu(ThreadPool& pool, const Tensor& gate_, const Tensor& up_, Tensor& out_) {
  const CpuTensor& gate = f32_arg(gate_, "swiglu", "gate");
  const CpuTensor& up = f32_arg(up_, "swiglu", "up");
  CpuTensor& out = f32_arg(out_, "swiglu", "out");
  require_same_shape(gate, up, "swiglu", "gate", "up");
  require_same_shape(gate, out, "swiglu", "gate", "out");
  const float* g = gate.f32();
  const float* u = up.f32();
  float* o = out.f32();
  // silu(z) = z * sigmoid(z) = z / (1 + e^-z); at z -> -inf this is -0, not NaN.
  for_each_element(pool, out.numel(), 20.0, [&](int64_t i) { o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i]; });
}

void gelu(ThreadPool& pool, const Tensor& x_, GeluKind kind, Tensor& out_) {
  const CpuTensor& x = f32_arg(x_, "gelu", "x");
  CpuTensor& out = f32_arg(out_, "gelu", "out");
  require_same_shape(x, out, "gelu", "x", "out");
  const float* in = x.f32();
  float* o = out.f32();
  if (kind == GeluKind::kTanh) {
    const float k = std::sqrt(2.0f / std::numbers::pi_v<float>);
    for_each_element(pool, out.numel(), 30.0, [&](int64_t i) {
      const float v = in[i];
      o[i] = 0.5f * v * (1.0f + std::tanh(k * (v + 0.044715f * v * v * v)));
    });
  } else {
    const float inv_sqrt2 = 1.0f / std::numbers::sqrt2_v<float>;
    for_each_element(pool, out.numel(), 30.0,
                     [&](int64_t i) { o[i] = 0.5f * in[i] * (1.0f + std::erf(in[i] * inv_sqrt2)); });
  }
}

void add(ThreadPool& pool, const Tensor& a_, const Tensor& b_, Tensor& out_) {
  const CpuTensor& a = f32_arg(a_, "add", "a");
  const CpuTensor& b = f32_arg(b_, "add", "b");
  CpuTensor& out = f32_arg(out_, "add", "out");
  require_same_shape(a, b, "add", "a", "b");
  require_same_shape(a, out, "add", "a", "out");
  const float* pa = a.f32();
  const float* pb = b.f32();
  float* o = out.f32();
  for_each_element(pool, out.numel(), 1.0, [&](int64_t i) { o[i] = pa[i] + pb[i]; });
}

}  // namespace ql::backend::cpu
