#include "core/model/bnb_weights.h"
#include "core/model/tensor_finiteness.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "core/model/bnb_layout.h"
#include "core/model/bnb_quant_state.h"

namespace ql::model {
namespace {

// Finds a module tensor and checks it holds exactly what its spec says.
Result<TensorView> tensor_of(const Checkpoint& ckpt, const BnbTensorSpec& s) {
  const auto t = ckpt.find(s.name);
  if (!t) return err("{}: tensor {} is missing", ckpt.dir(), s.name);
  if (t->dtype != s.dtype) return err("{}: dtype {}, expected {}", s.name, dtype_name(t->dtype), dtype_name(s.dtype));
  if (s.role != BnbRole::kQuantState && !std::equal(t->shape.begin(), t->shape.end(), s.shape.begin(), s.shape.end()))
    return err("{}: shape {}, expected {}", s.name, format_shape(t->shape), format_shape(s.shape));
  return *t;
}

// Copies a tensor's bytes into `out` (the mapped bytes may be unaligned).
template <typename T, typename Container>
void copy_into(const TensorView& t, Container& out) {
  out.resize(t.nbytes / sizeof(T));
  std::memcpy(out.data(), t.data, out.size() * sizeof(T));
}

quant::SourceDType source_dtype(std::optional<DType> d) {
  if (d == DType::kF16) return quant::SourceDType::kF16;
  if (d == DType::kF32) return quant::SourceDType::kF32;
  return quant::SourceDType::kBF16;
}

Result<quant::QuantizedWeightPtr> read_int8(const Checkpoint& ckpt, const std::vector<BnbTensorSpec>& specs,
                                            int64_t rows, int64_t cols, std::optional<DType> dtype) {
  quant::Int8RowwiseWeight w;
  w.rows = rows;
  w.cols = cols;
  w.source_dtype = source_dtype(dtype);
  for (const auto& s : specs) {
    if (s.role == BnbRole::kWeightFormat) continue;  // validated: 0 ("row") or absent
    QL_ASSIGN_OR_RETURN(TensorView t, tensor_of(ckpt, s));
    if (s.role == BnbRole::kCodes) copy_into<int8_t>(t, w.codes);
    if (s.role == BnbRole::kScb) {
      copy_into<float>(t, w.scb);
      QL_TRY(check_finite(w.scb.data(), w.scb.size(), s.name));  // a NaN scale makes its whole row NaN
    }
  }
  return quant::QuantizedWeightPtr(std::make_unique<quant::FormatWeight<quant::Int8RowwiseWeight>>(std::move(w)));
}

Result<quant::QuantizedWeightPtr> read_nf4(const Checkpoint& ckpt, const std::vector<BnbTensorSpec>& specs,
                                           int64_t rows, int64_t cols) {
  quant::Nf4Weight w;
  w.rows = rows;
  w.cols = cols;
  for (const auto& s : specs) {
    QL_ASSIGN_OR_RETURN(TensorView t, tensor_of(ckpt, s));
    switch (s.role) {
      case BnbRole::kCodes: copy_into<uint8_t>(t, w.packed); break;
      case BnbRole::kAbsmaxCodes: copy_into<uint8_t>(t, w.absmax_codes); break;
      // The quant state's floats scale every value of their blocks: a NaN
      // there is a NaN weight.
      case BnbRole::kNestedAbsmax:
        copy_into<float>(t, w.nested_absmax);
        QL_TRY(check_finite(w.nested_absmax.data(), w.nested_absmax.size(), s.name));
        break;
      case BnbRole::kQuantMap:
        std::memcpy(w.quant_map.data(), t.data, sizeof(w.quant_map));
        QL_TRY(check_finite(w.quant_map.data(), w.quant_map.size(), s.name));
        break;
      case BnbRole::kNestedQuantMap:
        std::memcpy(w.nested_quant_map.data(), t.data, sizeof(w.nested_quant_map));
        QL_TRY(check_finite(w.nested_quant_map.data(), w.nested_quant_map.size(), s.name));
        break;
      case BnbRole::kQuantState: {
        const std::string_view text(reinterpret_cast<const char*>(t.data), t.nbytes);
        QL_ASSIGN_OR_RETURN(Nf4QuantState state, parse_nf4_quant_state(text, s.name, rows, cols));
        w.offset = state.nested_offset;
        w.dtype = state.dtype;
        break;
      }
      default: break;
    }
  }
  return quant::QuantizedWeightPtr(std::make_unique<quant::FormatWeight<quant::Nf4Weight>>(std::move(w)));
}

}  // namespace

Result<quant::QuantizedWeightPtr> read_bnb_weight(const Checkpoint& checkpoint, quant::QuantFormat format,
                                                  const std::string& module, int64_t rows, int64_t cols,
                                                  std::optional<DType> dtype) {
  const auto specs = bnb_module_tensors(format, module, rows, cols);
  try {
    if (format == quant::QuantFormat::kInt8Rowwise) return read_int8(checkpoint, specs, rows, cols, dtype);
    if (format == quant::QuantFormat::kNf4) return read_nf4(checkpoint, specs, rows, cols);
  } catch (const std::bad_alloc&) {
    return internal_err("{}: out of memory reading its bitsandbytes tensors", module);
  }
  return internal_err("{}: {} is not a bitsandbytes format", module, quant::quant_format_name(format));
}

uint64_t bnb_module_stored_bytes(const Checkpoint& checkpoint, quant::QuantFormat format, const std::string& module,
                                 int64_t rows, int64_t cols) {
  uint64_t total = 0;
  for (const auto& s : bnb_module_tensors(format, module, rows, cols))
    if (const auto t = checkpoint.find(s.name)) total += t->nbytes;
  return total;
}

}  // namespace ql::model
