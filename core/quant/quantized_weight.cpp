#include "core/quant/quantized_weight.h"

#include "core/quant/decoded_rows_matmul.h"
#include "core/quant/int8_matmul.h"
#include "core/quant/nf4_matmul.h"

namespace ql::quant {

const char* quant_format_name(QuantFormat format) {
  switch (format) {
    case QuantFormat::kBF16: return "bf16";
    case QuantFormat::kF16: return "f16";
    case QuantFormat::kInt8Rowwise: return "int8";
    case QuantFormat::kNf4: return "nf4";
  }
  return "unknown";
}

// ---- bf16 / fp16 ------------------------------------------------------------
QuantFormat format_of(const Dense16Weight& w) {
  return w.type == Dense16Type::kF16 ? QuantFormat::kF16 : QuantFormat::kBF16;
}
size_t stored_bytes(const Dense16Weight& w) { return w.bits.size() * sizeof(uint16_t); }
Status matmul(const Dense16Weight& w, const float* x, int64_t n, float* y, const MatmulOptions& options) {
  const RowDecoder decode = [&w](int64_t first, int64_t rows, float* out) { decode_rows(w, first, rows, out); };
  return decoded_rows_matmul(x, n, w.rows, w.cols, decode, y, options.threads);
}

// ---- LLM.int8 ---------------------------------------------------------------
QuantFormat format_of(const Int8RowwiseWeight&) { return QuantFormat::kInt8Rowwise; }
size_t stored_bytes(const Int8RowwiseWeight& w) { return w.codes.size() + w.scb.size() * sizeof(float); }
Status matmul(const Int8RowwiseWeight& w, const float* x, int64_t n, float* y, const MatmulOptions& options) {
  return int8_matmul(x, n, w, y, Int8MatmulOptions{options.int8_outlier_threshold, options.threads});
}

// ---- NF4 --------------------------------------------------------------------
QuantFormat format_of(const Nf4Weight&) { return QuantFormat::kNf4; }
size_t stored_bytes(const Nf4Weight& w) {
  return w.packed.size() + w.absmax_codes.size() + w.nested_absmax.size() * sizeof(float) + sizeof(w.quant_map) +
         sizeof(w.nested_quant_map);
}
Status matmul(const Nf4Weight& w, const float* x, int64_t n, float* y, const MatmulOptions& options) {
  return nf4_matmul(x, n, w, y, options.threads);
}

// ---- entry point ----------------------------------------------------------------
namespace {

template <typename Stored>
Result<QuantizedWeightPtr> wrap(Result<Stored> r) {
  if (!r.ok()) return r.error();
  return QuantizedWeightPtr(std::make_unique<FormatWeight<Stored>>(std::move(r).value()));
}

}  // namespace

Result<QuantizedWeightPtr> quantize(const SourceTensor& src, QuantFormat format, int threads,
                                    Dense16Report* dense16_report) {
  switch (format) {
    case QuantFormat::kBF16:
    case QuantFormat::kF16: {
      const Dense16Type type = format == QuantFormat::kF16 ? Dense16Type::kF16 : Dense16Type::kBF16;
      auto r = quantize_dense16(src, type, threads);
      if (!r.ok()) return r.error();
      if (dense16_report) *dense16_report = r->report;
      return wrap(Result<Dense16Weight>(std::move(r->weight)));
    }
    case QuantFormat::kInt8Rowwise: return wrap(quantize_int8_rowwise(src, threads));
    case QuantFormat::kNf4: return wrap(quantize_nf4(src, threads));
  }
  return err("{}: unknown quantization format {}", src.name, static_cast<int>(format));
}

}  // namespace ql::quant
