#pragma once
// How a model's weights are loaded: the precision policy that gives each
// tensor its format, and the threads that quantize.
#include <optional>

#include "core/quant/precision_policy.h"

namespace ql::model {

struct WeightLoadOptions {
  // Each tensor's format (quant::tensor_format); nullopt keeps every tensor in
  // the checkpoint's dtype (what an fp32 test checkpoint needs for parity).
  std::optional<quant::PrecisionPolicy> policy;
  int threads = 0;  // quantizing threads; 0 = every core
};

}  // namespace ql::model
