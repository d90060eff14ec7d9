#include "core/vision/resample_weights.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ql::vision {

double keys_cubic(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
  return 0.0;
}

ResampleTaps compute_resample_taps(int in_size, int out_size) {
  ResampleTaps t;
  t.in_size = in_size;
  t.out_size = out_size;
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  // Downscaling widens the kernel by the scale (antialiasing); upscaling keeps it at 2.
  const double support = scale >= 1.0 ? 2.0 * scale : 2.0;
  const double inv_scale = scale >= 1.0 ? 1.0 / scale : 1.0;
  t.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);

  std::vector<double> real(static_cast<size_t>(out_size) * t.stride, 0.0);
  double w_max = 0.0;  // over the whole pass: it fixes one precision for all taps
  for (int i = 0; i < out_size; ++i) {
    const double centre = scale * (i + 0.5);
    // Casts truncate toward zero, as PyTorch's static_cast<int64_t> does.
    const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(centre - support + 0.5), 0);
    int64_t xsize = std::min<int64_t>(static_cast<int64_t>(centre + support + 0.5), in_size) - xmin;
    xsize = std::clamp<int64_t>(xsize, 0, t.stride);  // PyTorch clips a rare +1 overshoot
    double* w = real.data() + static_cast<size_t>(i) * t.stride;
    double total = 0.0;
    for (int64_t j = 0; j < xsize; ++j) {
      w[j] = keys_cubic((static_cast<double>(j + xmin) - centre + 0.5) * inv_scale);
      total += w[j];
    }
    if (total != 0.0) {
      for (int64_t j = 0; j < xsize; ++j) {
        w[j] /= total;
        w_max = std::max(w_max, w[j]);
      }
    }
    t.first[i] = static_cast<int>(xmin);
    t.count[i] = static_cast<int>(xsize);
  }

  // The largest precision whose biggest weight still fits in int16.
  int precision = 0;
  for (; precision < 22; ++precision) {
    const int next = static_cast<int>(0.5 + w_max * static_cast<double>(1 << (precision + 1)));
    if (next >= (1 << 15)) break;
  }
  t.precision = precision;

  t.weights.resize(real.size());
  const double unit = static_cast<double>(1 << precision);
  for (size_t k = 0; k < real.size(); ++k) {
    const double v = real[k] * unit;
    // Round half away from zero by truncation, as PyTorch does.
    t.weights[k] = static_cast<int16_t>(v < 0 ? static_cast<int>(-0.5 + v)
                                              : static_cast<int>(0.5 + v));
  }
  return t;
}

}  // namespace ql::vision
