#include "core/io/gguf/gguf_precision.h"

#include <array>
#include <cctype>

namespace ql::io::gguf {
namespace {

struct Row {
  GgufPrecision precision;
  std::string_view name;
  LlamaFtype ftype;
};

constexpr std::array<Row, 6> kRows = {{
    {GgufPrecision::kF16, "f16", LlamaFtype::kMostlyF16},
    {GgufPrecision::kBF16, "bf16", LlamaFtype::kMostlyBF16},
    {GgufPrecision::kQ8_0, "q8_0", LlamaFtype::kMostlyQ8_0},
    {GgufPrecision::kQ4_K_M, "q4_k_m", LlamaFtype::kMostlyQ4_K_M},
    {GgufPrecision::kQ4_0, "q4_0", LlamaFtype::kMostlyQ4_0},
    {GgufPrecision::kIQ4_NL, "iq4_nl", LlamaFtype::kMostlyIQ4_NL},
}};

const Row& row(GgufPrecision p) {
  for (const Row& r : kRows)
    if (r.precision == p) return r;
  return kRows[0];
}

}  // namespace

Result<GgufPrecision> parse_gguf_precision(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const Row& r : kRows)
    if (r.name == lower) return r.precision;
  return err("GGUF precision '{}' is not one of f16, bf16, q8_0, q4_k_m, q4_0, iq4_nl", text);
}

std::string_view gguf_precision_name(GgufPrecision p) { return row(p).name; }

std::string gguf_precision_tag(GgufPrecision p) {
  std::string tag(row(p).name);
  for (char& c : tag) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return tag;
}

LlamaFtype gguf_precision_ftype(GgufPrecision p) { return row(p).ftype; }

bool made_by_llama_quantize(GgufPrecision p) {
  return p == GgufPrecision::kQ4_K_M || p == GgufPrecision::kQ4_0 || p == GgufPrecision::kIQ4_NL;
}

GgmlType converter_outtype(GgufPrecision p) {
  switch (p) {
    case GgufPrecision::kF16: return GgmlType::kF16;
    case GgufPrecision::kQ8_0: return GgmlType::kQ8_0;
    default: return GgmlType::kBF16;
  }
}

GgmlType mmproj_outtype(GgufPrecision p) { return p == GgufPrecision::kBF16 ? GgmlType::kBF16 : GgmlType::kF16; }

quant::QuantFormat inapp_format(GgufPrecision p) {
  switch (p) {
    case GgufPrecision::kF16: return quant::QuantFormat::kF16;
    case GgufPrecision::kBF16: return quant::QuantFormat::kBF16;
    case GgufPrecision::kQ8_0: return quant::QuantFormat::kInt8Rowwise;
    default: return quant::QuantFormat::kNf4;
  }
}

}  // namespace ql::io::gguf
