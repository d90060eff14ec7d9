#pragma once
// bitsandbytes' signed 8-bit dynamic map (create_dynamic_map(signed=True,
// max_exponent_bits=7, total_bits=8), docs/formats.md §7.3), used to quantize the
// NF4 block absmax values ("double quantization").
#include <array>
#include <cstdint>

namespace ql::quant {

using DynamicMap = std::array<float, 256>;

// The 256 values ascending: 127 negatives, 0 at index 127, 127 positives, 1.0
// at index 255 (-1.0 is not in the map). Built once, on first use.
const DynamicMap& signed_dynamic_map();

// Index of the map entry nearest to `scaled` (in [-1, 1]); on an exact tie in
// fp32 distance the lower index, as torch.argmin picks the first minimum.
uint8_t nearest_dynamic_code(const DynamicMap& map, float scaled);

}  // namespace ql::quant
