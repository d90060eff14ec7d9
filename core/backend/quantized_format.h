#pragma once
// How the backend contract names the formats of core/quant's weights, for
// HostWeight::format when a weight arrives already quantized.
#include "core/backend/backend.h"
#include "core/quant/quantized_weight.h"

namespace ql::backend {

WeightFormat weight_format_for(quant::QuantFormat format);

}  // namespace ql::backend
