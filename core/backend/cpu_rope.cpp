// rope(): in place, per head, x = x*cos + rotate_half(x)*sin with
// rotate_half(v) = [-v[d/2:], v[:d/2]] (NeoX halves; docs/model.md §6.3, §9.4).
#include "core/backend/cpu_check.h"
#include "core/backend/cpu_ops.h"
#include "core/backend/cpu_tensor.h"

namespace ql::backend::cpu {

void rope(ThreadPool& pool, Tensor& x_, const Tensor& cos_, const Tensor& sin_, int head_dim) {
  CpuTensor& x = f32_arg(x_, "rope", "x");
  const CpuTensor& cos = f32_arg(cos_, "rope", "cos");
  const CpuTensor& sin = f32_arg(sin_, "rope", "sin");
  QL_CPU_REQUIRE(head_dim > 0 && head_dim % 2 == 0 && x.cols() % head_dim == 0,
                 "rope: head_dim {} must be even and divide x {}", head_dim, shape_of(x));
  QL_CPU_REQUIRE(cos.rows() == x.rows() && cos.cols() == head_dim && sin.rows() == x.rows() && sin.cols() == head_dim,
                 "rope: cos {} and sin {} must be [{}, {}]", shape_of(cos), shape_of(sin), x.rows(), head_dim);
  const int64_t half = head_dim / 2, heads = x.cols() / head_dim;
  parallel_for(pool, x.rows(), 4.0 * static_cast<double>(x.cols()), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* c = cos.row(r);
      const float* s = sin.row(r);
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x.row(r) + h * head_dim;
        for (int64_t d = 0; d < half; ++d) {
          const float lo = v[d], hi = v[d + half];
          v[d] = lo * c[d] - hi * s[d];
          v[d + half] = hi * c[d + half] + lo * s[d + half];
        }
      }
    }
  });
}

}  // namespace ql::backend::cpu
