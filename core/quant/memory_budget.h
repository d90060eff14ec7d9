#pragma once
// Whether a plan fits a GPU, and "auto": the highest preset that fits.
//
// A card's nominal memory is not all usable: the driver reserves part of it
// (an RTX 4090 sold as "24 GB" has 24 GiB = 25.77e9 bytes, of which CUDA
// reports about 23.6 GiB), and a display takes more. The budget of a card of
// G GiB is G GiB minus kDeviceReserveBytes; the CUDA context and cuBLAS are
// counted in the plan itself (kRuntimeOverheadBytes). A card that also drives
// a desktop should be given a smaller figure.
#include <cstdint>
#include <optional>

#include "core/common/result.h"
#include "core/model/model_config.h"
#include "core/quant/memory_plan.h"
#include "core/quant/precision_policy.h"

namespace ql::quant {

inline constexpr uint64_t kDeviceReserveBytes = 512 * kMiB;

struct MemoryBudget {
  uint64_t device_bytes = 0;  // the card's memory
  uint64_t usable_bytes() const { return device_bytes > kDeviceReserveBytes ? device_bytes - kDeviceReserveBytes : 0; }
};

// Errors name the value: it must be a finite number of GiB in (0, 4096].
Result<MemoryBudget> budget_from_gib(double gib);

struct FitCheck {
  bool fits = false;
  int64_t margin_bytes = 0;  // usable - total; negative when it does not fit
};
FitCheck check_fit(const MemoryPlan& plan, const MemoryBudget& budget);

// A preset's plan, or for "auto" the first of auto_preset_order() that fits
// `budget` (the last one, nf4, when none does: the caller reports that it does
// not fit). "auto" without a budget is an error.
Result<MemoryPlan> plan_precision(const model::ModelConfig& config, const PrecisionChoice& choice,
                                  const PlanRequest& request, const std::optional<MemoryBudget>& budget);

}  // namespace ql::quant
