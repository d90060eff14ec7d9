#pragma once
// Summary statistics of pixel_values, for the CLI and for eyeballing a
// preprocessing run (published config: values lie in [-1, 1]).
#include <cstddef>
#include <span>

namespace ql::vision {

struct PixelStats {
  size_t count = 0;
  float min = 0;
  float max = 0;
  double mean = 0;
  double std = 0;  // population standard deviation (divides by count)
};

PixelStats compute_pixel_stats(std::span<const float> values);

}  // namespace ql::vision
