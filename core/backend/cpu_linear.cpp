// linear(): out = (accumulate ? out : 0) + x . W^T (+ bias), fp32, from a weight of any format.
// out must not alias x (every output row reads all of its input row).
#include <vector>

#include "core/backend/cpu_check.h"
#include "core/backend/cpu_matmul.h"
#include "core/backend/cpu_ops.h"
#include "core/backend/cpu_tensor.h"
#include "core/backend/cpu_weight_decode.h"

namespace ql::backend::cpu {

void linear(ThreadPool& pool, const Tensor& x_, const Weight& w_, const Weight* bias_, Tensor& out_,
            bool accumulate, const MatmulSettings& settings) {
  const CpuTensor& x = f32_arg(x_, "linear", "x");
  CpuTensor& out = f32_arg(out_, "linear", "out");
  const CpuWeight& w = weight_arg(w_, "linear", "weight");
  QL_CPU_REQUIRE(x.cols() == w.cols(), "linear: x {} does not fit weight {} {}", shape_of(x), w.name(), shape_of(w));
  QL_CPU_REQUIRE(out.rows() == x.rows() && out.cols() == w.rows(), "linear: out {} for x {} and weight {} {}",
                 shape_of(out), shape_of(x), w.name(), shape_of(w));
  std::vector<float> bias;
  if (bias_ != nullptr) {
    const CpuWeight& b = weight_arg(*bias_, "linear", "bias");
    QL_CPU_REQUIRE(b.rows() == 1 && b.cols() == w.rows(), "linear: bias {} {} for weight {} {}", b.name(),
                   shape_of(b), w.name(), shape_of(w));
    bias.resize(static_cast<size_t>(b.cols()));
    decode_rows(b, 0, 1, bias.data());
  }
  QL_CPU_REQUIRE(w.stack() == 1, "linear: {} is a stack of {} matrices", w.name(), w.stack());
  if (!accumulate) {
    multiply_weight(pool, x.f32(), x.rows(), w, bias_ ? bias.data() : nullptr, out.f32(), settings);
    return;
  }
  // out += x . W^T: the product into a temporary, then one add per element
  // (the residual add of docs/model.md §9.2, fused into the op on the GPU).
  std::vector<float> product(static_cast<size_t>(out.numel()));
  multiply_weight(pool, x.f32(), x.rows(), w, bias_ ? bias.data() : nullptr, product.data(), settings);
  float* o = out.f32();
  for (size_t i = 0; i < product.size(); ++i) o[i] += product[i];
}

}  // namespace ql::backend::cpu
