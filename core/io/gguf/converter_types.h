#pragma once
// The GGUF type llama.cpp's converter gives each tensor (docs/formats.md §4.3,
// ModelBase.prepare_tensors and MmprojModel.tensor_force_quant): 1-D tensors,
// norms, the MoE router, position embeddings and non-".weight" names stay
// F32; the mmproj patch kernels are F16 in an F16 file and F32 otherwise;
// everything else takes the outtype, except that Q8_0 falls back to F16 for a
// row length that is not a multiple of 32.
#include <cstdint>
#include <string>
#include <vector>

#include "core/io/gguf/ggml_types.h"

namespace ql::io::gguf {

GgmlType converter_tensor_type(const std::string& gguf_name, const std::vector<int64_t>& ne, GgmlType outtype,
                               bool mmproj);

}  // namespace ql::io::gguf
