#pragma once
// The six GGUF precisions the export offers, in llama.cpp's names, and what
// each implies: the converter's --outtype, whether llama-quantize would make
// the file from the converter's BF16 file, the file-type value, the file
// name tag, and the in-app quantization it is compared with.
#include <string>
#include <string_view>

#include "core/common/result.h"
#include "core/io/gguf/ggml_types.h"
#include "core/quant/quantized_weight.h"

namespace ql::io::gguf {

enum class GgufPrecision { kF16, kBF16, kQ8_0, kQ4_K_M, kQ4_0, kIQ4_NL };

// Case-insensitive: "f16", "bf16", "q8_0", "q4_k_m", "q4_0", "iq4_nl".
Result<GgufPrecision> parse_gguf_precision(std::string_view text);
std::string_view gguf_precision_name(GgufPrecision p);  // lower case, as parsed
std::string gguf_precision_tag(GgufPrecision p);        // file-name tag: "F16", "Q4_K_M", "IQ4_NL"
LlamaFtype gguf_precision_ftype(GgufPrecision p);

// q4_k_m, q4_0 and iq4_nl come from llama-quantize applied to the converter's
// BF16 file; f16, bf16 and q8_0 straight from the converter.
bool made_by_llama_quantize(GgufPrecision p);
// The converter's --outtype for this precision (BF16 for the llama-quantize ones).
GgmlType converter_outtype(GgufPrecision p);
// The mmproj file's type: BF16 for bf16, F16 otherwise (llama-quantize is
// never applied to a projector; F16 is what llama.cpp's own mmproj files use).
GgmlType mmproj_outtype(GgufPrecision p);
// The in-app quantization of the same precision, for the error report.
quant::QuantFormat inapp_format(GgufPrecision p);

}  // namespace ql::io::gguf
