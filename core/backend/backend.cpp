#include "core/backend/backend.h"

namespace ql::backend {

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

}  // namespace ql::backend
