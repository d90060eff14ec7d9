#pragma once
// ggml tensor types (docs/formats.md §2.2): ids as GGUF stores them, block sizes and
// bytes per block, plus llama.cpp's file-type enum (general.file_type). The
// table covers every id a GGUF reader may meet; the exporter writes only the
// types block_quants.h can produce.
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/common/result.h"

namespace ql::io::gguf {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

struct GgmlTypeTraits {
  std::string_view name;  // ggml's spelling: "f32", "q4_K", "iq4_nl", "bf16"
  int64_t block_size = 1;  // elements per block
  int64_t type_size = 4;   // bytes per block
  bool quantized = false;
};

// nullopt for an id that is retired or unknown.
std::optional<GgmlTypeTraits> ggml_type_traits(uint32_t id);
const GgmlTypeTraits& traits(GgmlType type);  // for the enumerators above
std::string_view ggml_type_name(GgmlType type);
// Upper-case name as llama.cpp logs and reports it ("Q4_K", "BF16", "IQ4_NL").
std::string ggml_type_upper_name(GgmlType type);

// Bytes of one row of `ne0` elements; an error when ne0 is not a whole number
// of blocks (GGUF requires rows made of whole blocks).
Result<uint64_t> ggml_row_bytes(GgmlType type, int64_t ne0);

// llama.cpp's llama_ftype values (general.file_type), the ones we write.
enum class LlamaFtype : uint32_t {
  kAllF32 = 0,
  kMostlyF16 = 1,
  kMostlyQ4_0 = 2,
  kMostlyQ8_0 = 7,
  kMostlyQ4_K_M = 15,
  kMostlyIQ4_NL = 25,
  kMostlyBF16 = 32,
};

}  // namespace ql::io::gguf
