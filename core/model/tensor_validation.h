#pragma once
// Checks a Checkpoint against the architecture's tensor schema before any
// weight is used, and reports EVERY problem (one line each, naming the tensor),
// so a user fixes a broken conversion in one round instead of one per run.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model/checkpoint.h"
#include "core/model/dtype.h"
#include "core/model/tensor_schema.h"

namespace ql::model {

// The two layouts of fused expert tensors (docs/model.md §2.1), decided by shape:
//   kInOut: [E, in, out], used as x · W[e]. Published checkpoint:
//           gate_up_proj [E, H, 2I], down_proj [E, I, H].
//   kOutIn: [E, out, in], nn.Linear orientation (transformers 5 in memory,
//           sometimes saved): gate_up_proj [E, 2I, H], down_proj [E, H, I].
// Both split gate_up's output into halves, gate first.
enum class ExpertOrientation { kInOut, kOutIn };
std::string_view orientation_name(ExpertOrientation o);  // "in_out" / "out_in"

struct ValidationReport {
  std::string dir;                    // the checkpoint folder, for the summary
  std::vector<std::string> problems;  // one line each, naming the tensor
  size_t missing = 0;
  size_t unexpected = 0;
  size_t misshaped = 0;
  size_t wrong_dtype = 0;
  size_t ambiguous = 0;
  size_t invalid = 0;                 // bitsandbytes quant states that cannot be read (bnb_validation.h)
  size_t unreadable = 0;              // files that failed to open or parse (added by callers)
  size_t non_finite = 0;              // tensors holding NaN or infinity (info --check: tensor_finiteness.h)
  size_t checked = 0;                 // tensors of the schema found in the checkpoint
  // Every fused expert tensor whose orientation the shape decided.
  std::map<std::string, ExpertOrientation> expert_orientation;

  bool ok() const { return problems.empty(); }
  // One line: "DIR: N problems ... (a missing, b unexpected, ...)" or "DIR: all N tensors match".
  std::string summary() const;
};

// `expected_dtype`: the config's declared dtype; every tensor must have it.
// nullopt (config declares none): dtypes are not compared.
// `checked_elsewhere`: names that are not in `schema` but not unexpected
// either (the quantized tensors of a bitsandbytes checkpoint, which
// bnb_validation.h checks).
ValidationReport validate_checkpoint(const Checkpoint& checkpoint, const std::vector<TensorSpec>& schema,
                                     std::optional<DType> expected_dtype,
                                     const std::vector<std::string>& checked_elsewhere = {});

}  // namespace ql::model
