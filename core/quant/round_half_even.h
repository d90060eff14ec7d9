#pragma once
// Round to the nearest integer, ties to even (torch.round, CUDA __float2int_rn)
// for |v| <= 2^22, without a call into libm: the scalar code paths that
// quantize every weight of a 30B model use it.
namespace ql::quant {

// Adding 1.5 * 2^23 moves v into [2^23, 2^24), where fp32's spacing is 1, so the
// addition itself rounds v to an integer in the current (nearest-even) mode;
// the subtraction is exact. Valid for |v| <= 2^22; larger values stay large.
inline float round_half_even(float v) {
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23
  return (v + kShift) - kShift;
}

}  // namespace ql::quant
