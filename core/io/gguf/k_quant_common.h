#pragma once
// Pieces shared by the K-quant reference quantizers (docs/formats.md §3.3-§3.6):
// ggml's integer rounding, the scale (+ min) searches, and the 6-bit
// scale/min packing of Q4_K and Q5_K. Everything rounds in fp32 exactly as
// ggml's C reference does.
#include <cstdint>
#include <cstring>

namespace ql::io::gguf {

inline constexpr int kQK_K = 256;           // values per K-quant super-block
inline constexpr float kGroupMaxEps = 1e-15f;  // a group whose largest |x| is below this is all zero

// Round to nearest, ties to even, by adding 1.5*2^23 and reading the mantissa
// (valid for |v| <= 4194303), as ggml's nearest_int.
inline int nearest_int(float v) {
  const float shifted = v + 12582912.f;
  int32_t bits;
  std::memcpy(&bits, &shifted, 4);
  return (bits & 0x007fffff) - 0x00400000;
}

// Asymmetric search (ggml's make_qkx2_quants): codes 0..nmax for x ~ scale*q - min
// with weights w, trying nstep+1 candidate grids. Writes the codes to L, returns
// the scale and stores the (positive) min to subtract in *the_min.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep);

// Symmetric search (ggml's make_qx_quants with rmse_type 1, no weights given):
// codes l in [-nmax, nmax-1], stored as l + nmax in L; returns the signed scale.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L);

// Q4_K/Q5_K scales[12]: eight 6-bit (scale, min) pairs.
void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* scales);

// The part of Q4_K and Q5_K that is the same (ggml's quantize_row_q{4,5}_K_ref
// before the codes are packed): per 32-value sub-block, weights rms + |x| and
// make_qkx2_quants(nmax, rmin, rdelta, nstep); then fp16 d and dmin and the
// packed 6-bit scales/mins into head[0..16); then every code re-quantized
// against the scales as stored, clamped to 0..nmax, into L[256].
void quantize_k_superblock(const float* x, int nmax, float rmin, float rdelta, int nstep, uint8_t* head,
                           uint8_t* L);
void unpack_scale_min_k4(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m);

}  // namespace ql::io::gguf
