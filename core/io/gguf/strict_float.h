#pragma once
// Included first by the block quantizers: ggml's reference quantizers are
// built without fused multiply-add, so every a*b+c there rounds twice. A
// compiler allowed to contract it into one FMA (as GCC does by default when
// the target has FMA) rounds once and can pick a different code for a value
// near a rounding boundary, and the file would no longer equal llama.cpp's.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
