#include "core/model/bnb_layout.h"

#include "core/quant/nf4.h"

namespace ql::model {

int64_t nf4_block_count(int64_t numel) { return (numel + quant::kNf4BlockSize - 1) / quant::kNf4BlockSize; }

int64_t nf4_nested_block_count(int64_t numel) {
  return (nf4_block_count(numel) + quant::kNf4NestedBlockSize - 1) / quant::kNf4NestedBlockSize;
}

std::vector<BnbTensorSpec> bnb_module_tensors(quant::QuantFormat format, const std::string& module, int64_t rows,
                                              int64_t cols, int64_t quant_state_bytes) {
  if (format == quant::QuantFormat::kInt8Rowwise) {
    return {
        {module + ".weight", BnbRole::kCodes, DType::kI8, {rows, cols}},
        {module + ".SCB", BnbRole::kScb, DType::kF32, {rows}},  // not ".weight.SCB"
        {module + ".weight_format", BnbRole::kWeightFormat, DType::kU8, {}, /*optional=*/true},
    };
  }
  const int64_t n = rows * cols;
  const std::string w = module + ".weight";
  return {
      {w, BnbRole::kCodes, DType::kU8, {(n + 1) / 2, 1}},
      {w + ".absmax", BnbRole::kAbsmaxCodes, DType::kU8, {nf4_block_count(n)}},
      {w + ".quant_map", BnbRole::kQuantMap, DType::kF32, {16}},
      {w + ".nested_absmax", BnbRole::kNestedAbsmax, DType::kF32, {nf4_nested_block_count(n)}},
      {w + ".nested_quant_map", BnbRole::kNestedQuantMap, DType::kF32, {256}},
      {module + kNf4QuantStateSuffix, BnbRole::kQuantState, DType::kU8, {quant_state_bytes}},
  };
}

}  // namespace ql::model
