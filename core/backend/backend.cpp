#include "core/backend/backend.h"

namespace ql::backend {

size_t dtype_bytes(DType d) {
  switch (d) {
    case DType::kF32:
    case DType::kI32: return 4;
    case DType::kBF16:
    case DType::kF16: return 2;
  }
  return 4;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kF32: return "F32";
    case DType::kI32: return "I32";
    case DType::kBF16: return "BF16";
    case DType::kF16: return "F16";
  }
  return "unknown";
}

const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32: return "F32";
    case WeightFormat::kBF16: return "BF16";
    case WeightFormat::kF16: return "F16";
    case WeightFormat::kInt8Rowwise: return "INT8";
    case WeightFormat::kNF4: return "NF4";
  }
  return "unknown";
}

bool is_dense_format(WeightFormat f) {
  return f == WeightFormat::kF32 || f == WeightFormat::kBF16 || f == WeightFormat::kF16;
}

SamplingInputs sampling_inputs(const SamplingParams& p, double uniform) {
  SamplingInputs s;
  s.temperature = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  s.repetition_penalty = p.repetition_penalty;
  s.presence_penalty = p.presence_penalty;
  s.uniform = uniform;
  return s;
}

}  // namespace ql::backend
