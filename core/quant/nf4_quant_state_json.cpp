#include "core/quant/nf4_quant_state_json.h"

#include <fmt/format.h>

#include "core/quant/python_float_repr.h"

namespace ql::quant {

std::string nf4_quant_state_json(const Nf4Weight& w) {
  // nested_offset is the fp32 offset converted to a Python float (a double),
  // so its repr shows the fp32 value's full double expansion, e.g.
  // 0.6000000238418579 for fp32(0.6).
  return fmt::format(
      "{{\"quant_type\": \"nf4\", \"blocksize\": {}, \"dtype\": \"{}\", \"shape\": [{}, {}], "
      "\"nested_blocksize\": {}, \"nested_dtype\": \"float32\", \"nested_offset\": {}}}",
      kNf4BlockSize, torch_dtype_name(w.dtype), w.rows, w.cols, kNf4NestedBlockSize,
      python_json_float(static_cast<double>(w.offset)));
}

}  // namespace ql::quant
