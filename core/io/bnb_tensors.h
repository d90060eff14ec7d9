#pragma once
// The tensors of one quantized module in a bitsandbytes export (layout:
// model/bnb_layout.h), made by core/quant's quantizers, which hold exactly
// bitsandbytes' tensors (int8_rowwise.h, nf4.h): the int8 codes or packed
// nibbles ("P.weight"), and the small companions (SCB, weight_format, absmax
// codes, quant maps, nested absmax, quant-state JSON) as the bytes they are
// written with.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/common/result.h"
#include "core/io/safetensors_writer.h"
#include "core/model/bnb_modules.h"
#include "core/model/checkpoint.h"
#include "core/quant/quantized_weight.h"

namespace ql::io {

// The module's source weight in the checkpoint, as quantizers read it.
Result<quant::SourceTensor> bnb_module_source(const model::Checkpoint& checkpoint, const model::BnbModule& module);

struct BnbModuleTensors {
  quant::QuantizedWeightPtr weight;              // its stored tensors; codes are "P.weight"
  std::map<std::string, std::string> companions;  // every other tensor of the module: name -> bytes
};

// Quantizes one module as bitsandbytes does (docs/formats.md §7). `state_dtype`:
// the dtype NF4's quant state records (that of the export's 16-bit tensors,
// which a loader casts the dequantized weight to).
Result<BnbModuleTensors> quantize_bnb_module(const model::Checkpoint& checkpoint, const model::BnbModule& module,
                                             quant::QuantFormat format, quant::SourceDType state_dtype, int threads);

// The module's safetensors entries; `quant_state_bytes`: the NF4 JSON's length.
std::vector<SafetensorsEntry> bnb_module_entries(quant::QuantFormat format, const model::BnbModule& module,
                                                 int64_t quant_state_bytes);

// The longest the NF4 quant-state JSON of a [rows, cols] weight can be
// (nested_offset's repr is at most 24 characters), for estimates made
// without quantizing.
int64_t max_nf4_quant_state_bytes(int64_t rows, int64_t cols, quant::SourceDType state_dtype);

// The bytes of "P.weight": int8 codes or packed NF4 nibbles.
std::string_view bnb_code_bytes(const quant::QuantizedWeight& weight);

// Relative RMS error sqrt(sum (w - x)^2 / sum x^2) of the decoded weight
// against its source; 0 for an all-zero source.
double decoded_rel_rmse(const quant::QuantizedWeight& weight, const quant::SourceTensor& src);

// The same figure for the in-app quantization of the same precision: the
// loader quantizes a fused vision qkv as its three row parts (`parts` = 3),
// every other matrix whole.
Result<double> inapp_rel_rmse(const quant::SourceTensor& src, quant::QuantFormat format, int parts, int threads);

}  // namespace ql::io
