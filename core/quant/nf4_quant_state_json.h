#pragma once
// The bytes of "P.weight.quant_state.bitsandbytes__nf4" (docs/formats.md §6.3): the
// quant state as Python's json.dumps writes it, keys in bitsandbytes' order:
// {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4096, 2048],
//  "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.012345678}
#include <string>

#include "core/quant/nf4.h"

namespace ql::quant {

std::string nf4_quant_state_json(const Nf4Weight& w);

}  // namespace ql::quant
