#pragma once
// A quantized module of a bitsandbytes checkpoint as QuantLens's own stored
// weight, built straight from its tensors (bnb_layout.h), with no
// re-quantization: P.weight + P.SCB become an Int8RowwiseWeight, the six NF4
// tensors an Nf4Weight (quant maps, offset and original dtype as stored).
// Both are exactly the tensors core/quant's formats hold, so the loaded
// weight is the one the checkpoint describes, value for value.
#include <cstdint>
#include <optional>
#include <string>

#include "core/common/result.h"
#include "core/model/checkpoint.h"
#include "core/model/dtype.h"
#include "core/quant/quantized_weight.h"

namespace ql::model {

// `module`'s weight of shape [rows, cols] in `format` (kInt8Rowwise or kNf4).
// `dtype`: the int8 weight's dtype before quantization (config.json's), which
// the Int8RowwiseWeight records; NF4 reads its own from the quant state.
// Errors name the tensor: missing, wrong dtype or size, invalid quant state
// (validation reports these first; this keeps the loader safe on its own).
Result<quant::QuantizedWeightPtr> read_bnb_weight(const Checkpoint& checkpoint, quant::QuantFormat format,
                                                  const std::string& module, int64_t rows, int64_t cols,
                                                  std::optional<DType> dtype);

// Bytes of the module's tensors in the checkpoint (for load progress).
uint64_t bnb_module_stored_bytes(const Checkpoint& checkpoint, quant::QuantFormat format, const std::string& module,
                                 int64_t rows, int64_t cols);

}  // namespace ql::model
