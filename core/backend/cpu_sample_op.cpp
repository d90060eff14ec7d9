// The sample and mark_seen ops of the CPU backend: the settings and the draw
// come from a tensor written in the step's input phase (backend.h,
// SamplingInputs), as on the GPU, and the pick is cpu_sampler.h's sample_row.
#include <cstring>
#include <span>

#include "core/backend/cpu_check.h"
#include "core/backend/cpu_ops.h"
#include "core/backend/cpu_sampler.h"
#include "core/backend/cpu_tensor.h"

namespace ql::backend::cpu {

void sample(const Tensor& logits_, const Tensor& inputs_, Tensor* seen_, Tensor& token_) {
  const CpuTensor& logits = f32_arg(logits_, "sample", "logits");
  const CpuTensor& inputs = i32_arg(inputs_, "sample", "inputs");
  CpuTensor& token = i32_arg(token_, "sample", "token");
  QL_CPU_REQUIRE(logits.rows() == 1 && logits.cols() > 0, "sample: logits {} must be one row", shape_of(logits));
  QL_CPU_REQUIRE(inputs.numel() == kSamplingInputsWords, "sample: inputs {} must hold {} words", shape_of(inputs),
                 kSamplingInputsWords);
  QL_CPU_REQUIRE(token.numel() == 1, "sample: token {} must be [1, 1]", shape_of(token));
  SamplingInputs in;
  std::memcpy(&in, inputs.data(), sizeof in);
  SamplingParams p;
  p.temperature = in.temperature;
  p.top_k = in.top_k;
  p.top_p = in.top_p;
  p.min_p = in.min_p;
  p.repetition_penalty = in.repetition_penalty;
  p.presence_penalty = in.presence_penalty;
  std::span<const int32_t> seen;
  CpuTensor* seen_t = nullptr;
  if (seen_ != nullptr) {
    seen_t = &i32_arg(*seen_, "sample", "seen");
    QL_CPU_REQUIRE(seen_t->numel() == logits.cols(), "sample: seen {} for logits {}", shape_of(*seen_t),
                   shape_of(logits));
    seen = std::span<const int32_t>(seen_t->i32(), static_cast<size_t>(seen_t->numel()));
  }
  const int32_t picked =
      sample_row(std::span<const float>(logits.f32(), static_cast<size_t>(logits.cols())), p, seen, in.uniform);
  token.i32()[0] = picked;
  if (seen_t) seen_t->i32()[picked] = 1;
}

void mark_seen(const Tensor& ids_, Tensor& seen_) {
  const CpuTensor& ids = i32_arg(ids_, "mark_seen", "ids");
  CpuTensor& seen = i32_arg(seen_, "mark_seen", "seen");
  for (int64_t i = 0; i < ids.numel(); ++i) {
    const int32_t t = ids.i32()[i];
    QL_CPU_REQUIRE(t >= 0 && t < seen.numel(), "mark_seen: token {} (entry {}) outside [0, {})", t, i, seen.numel());
    seen.i32()[t] = 1;
  }
}

}  // namespace ql::backend::cpu
