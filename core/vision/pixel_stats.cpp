#include "core/vision/pixel_stats.h"

#include <algorithm>
#include <cmath>

namespace ql::vision {

PixelStats compute_pixel_stats(std::span<const float> values) {
  PixelStats s;
  s.count = values.size();
  if (values.empty()) return s;
  auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  s.min = *lo;
  s.max = *hi;
  // Two passes in double: a single-pass sum of squares loses digits on 100M values.
  double sum = 0;
  for (float v : values) sum += v;
  s.mean = sum / static_cast<double>(s.count);
  double sq = 0;
  for (float v : values) sq += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(sq / static_cast<double>(s.count));
  return s;
}

}  // namespace ql::vision
