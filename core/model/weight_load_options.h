#pragma once
// How a model's weights are loaded: the precision policy that gives each
// tensor its format (the backend converts; the CPU backend quantizes on its
// own threads).
#include <optional>

#include "core/quant/precision_policy.h"

namespace ql::model {

struct WeightLoadOptions {
  // Each tensor's format (quant::tensor_format); nullopt keeps every tensor in
  // the checkpoint's dtype (what an fp32 test checkpoint needs for parity).
  std::optional<quant::PrecisionPolicy> policy;
};

}  // namespace ql::model
