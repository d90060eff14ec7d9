#pragma once
// Fixed-point filter taps for one pass (one axis) of the uint8 antialiased
// bicubic resize that PyTorch runs for torchvision's resize(BICUBIC,
// antialias=True) on CPU (docs/model.md §4.1 step 3). Computing the taps exactly
// as PyTorch does is what makes our output bit-identical to the reference.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ql::vision {

struct ResampleTaps {
  int in_size = 0;
  int out_size = 0;
  int stride = 0;     // taps stored per output sample (PyTorch's max_interp_size)
  int precision = 0;  // fixed-point bits: weight = round(w * 2^precision)
  std::vector<int> first;        // [out_size] first input sample read
  std::vector<int> count;        // [out_size] input samples read (<= stride)
  std::vector<int32_t> weights;  // [out_size * stride], zero-padded past count

  const int32_t* weights_of(int out_index) const {
    return weights.data() + static_cast<size_t>(out_index) * stride;
  }
};

// Keys' cubic convolution kernel, a = -0.5, evaluated in PyTorch's operation
// order (float64), so the weights round identically.
double keys_cubic(double x);

// Taps for resampling `in_size` samples to `out_size` (both > 0).
ResampleTaps compute_resample_taps(int in_size, int out_size);

}  // namespace ql::vision
