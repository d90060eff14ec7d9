#pragma once
// What precision a bitsandbytes checkpoint is loaded at, for ModelInfo. The
// rule: its pre-quantized modules keep their stored format whatever the
// requested policy says for their component (re-quantizing int8 codes to nf4,
// or widening them to 16-bit, would only add error or hide it); the policy
// applies to every tensor stored 16-bit (experts, router, embeddings, lm_head,
// norms). The text shows the policy as it really applies, then why, e.g.
//   "vision=int8,attention=int8,router=bf16,...,norms=bf16 (bitsandbytes int8
//    checkpoint: 28 pre-quantized matrices of attention, vision keep their stored int8)"
#include <optional>
#include <string>

#include "core/model/model_config.h"
#include "core/quant/precision_policy.h"

namespace ql::model {

// `requested_name`: the resolved precision's name (used as is when there is no
// policy, e.g. "as stored (F32)"). config.quantization must be set.
std::string bnb_precision_text(const std::string& requested_name,
                               const std::optional<quant::PrecisionPolicy>& requested, const ModelConfig& config);

}  // namespace ql::model
