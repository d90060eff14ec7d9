#include "core/backend/cpu_tensor.h"

#include "core/backend/cpu_check.h"

namespace ql::backend::cpu {

namespace {
const CpuTensor& checked(const Tensor& t, const DType* want, const char* op, const char* arg) {
  const auto* c = dynamic_cast<const CpuTensor*>(&t);
  QL_CPU_REQUIRE(c != nullptr, "{}: {} is not a CPU tensor", op, arg);
  QL_CPU_REQUIRE(want == nullptr || t.dtype() == *want, "{}: {} {} is {}, expected {}", op, arg, shape_of(t),
                 dtype_name(t.dtype()), dtype_name(*want));
  return *c;
}
}  // namespace

const CpuTensor& f32_arg(const Tensor& t, const char* op, const char* arg) {
  const DType want = DType::kF32;
  return checked(t, &want, op, arg);
}
CpuTensor& f32_arg(Tensor& t, const char* op, const char* arg) {
  return const_cast<CpuTensor&>(f32_arg(static_cast<const Tensor&>(t), op, arg));
}
const CpuTensor& i32_arg(const Tensor& t, const char* op, const char* arg) {
  const DType want = DType::kI32;
  return checked(t, &want, op, arg);
}
CpuTensor& i32_arg(Tensor& t, const char* op, const char* arg) {
  return const_cast<CpuTensor&>(i32_arg(static_cast<const Tensor&>(t), op, arg));
}
const CpuTensor& any_arg(const Tensor& t, const char* op, const char* arg) { return checked(t, nullptr, op, arg); }
CpuTensor& any_arg(Tensor& t, const char* op, const char* arg) {
  return const_cast<CpuTensor&>(any_arg(static_cast<const Tensor&>(t), op, arg));
}

}  // namespace ql::backend::cpu
