#pragma once
// Finiteness of checkpoint values (issue 12, point 5). A NaN or an infinity
// in a weight does not fail a shape check, yet every output it touches comes
// out NaN: the model "loads" and answers with token ids outside the
// vocabulary. Loading checks every weight it reads (weight_upload.cpp, the
// quantizers); `info --check` scans a whole folder with this.
#include <string>
#include <vector>

#include "core/model/checkpoint.h"

namespace ql::model {

// One line per float tensor (F32, BF16, F16) holding a NaN or an infinity:
// the tensor, how many such values, the first one's index and value.
// Integer tensors (bitsandbytes codes) are skipped: every value is valid.
std::vector<std::string> non_finite_tensors(const Checkpoint& checkpoint);

// "name: element 3 of 8 is nan" style error for a float array, or ok.
Status check_finite(const float* values, size_t count, const std::string& name);

}  // namespace ql::model
