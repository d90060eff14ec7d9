#include "core/backend/quantized_format.h"

namespace ql::backend {

WeightFormat weight_format_for(quant::QuantFormat format) {
  switch (format) {
    case quant::QuantFormat::kBF16: return WeightFormat::kBF16;
    case quant::QuantFormat::kF16: return WeightFormat::kF16;
    case quant::QuantFormat::kInt8Rowwise: return WeightFormat::kInt8Rowwise;
    case quant::QuantFormat::kNf4: return WeightFormat::kNF4;
  }
  return WeightFormat::kF32;  // unreachable: every QuantFormat is listed
}

}  // namespace ql::backend
