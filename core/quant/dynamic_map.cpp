#include "core/quant/dynamic_map.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ql::quant {
namespace {

// torch.linspace(start, end, steps) for float32 on the CPU: the first half
// steps forward from start, the second half backward from end, so both ends
// are exact.
std::vector<float> linspace_f32(float start, float end, int steps) {
  std::vector<float> v(static_cast<size_t>(steps));
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int halfway = steps / 2;
  for (int i = 0; i < steps; ++i) {
    v[i] = i < halfway ? start + step * static_cast<float>(i) : end - step * static_cast<float>(steps - i - 1);
  }
  return v;
}

DynamicMap build_signed_dynamic_map() {
  std::vector<float> values;
  // 7 exponent bits for a signed 8-bit code: exponent i (0..6) gets 2^i
  // fraction values, the midpoints of 2^i + 1 points spread over [0.1, 1],
  // scaled by 10^(i - 6); each with both signs.
  for (int i = 0; i < 7; ++i) {
    const std::vector<float> bounds = linspace_f32(0.1f, 1.0f, (1 << i) + 1);
    const double scale = std::pow(10.0, i - 6);
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
      const float mid = (bounds[k] + bounds[k + 1]) / 2.0f;
      // Scaled in double and rounded once to fp32: this reproduces the map
      // printed in docs/formats.md §7.3 exactly (an fp32 product differs by 1 ulp in
      // 14 entries; readers use the stored map, so either would load).
      const auto v = static_cast<float>(scale * static_cast<double>(mid));
      values.push_back(v);
      values.push_back(-v);
    }
  }
  values.push_back(0.0f);
  values.push_back(1.0f);
  std::sort(values.begin(), values.end());
  DynamicMap map{};
  std::copy(values.begin(), values.end(), map.begin());  // exactly 2 * 127 + 2 = 256
  return map;
}

}  // namespace

const DynamicMap& signed_dynamic_map() {
  static const DynamicMap map = build_signed_dynamic_map();
  return map;
}

uint8_t nearest_dynamic_code(const DynamicMap& map, float scaled) {
  const auto above = std::lower_bound(map.begin(), map.end(), scaled);  // first entry >= scaled
  if (above == map.begin()) return 0;
  if (above == map.end()) return 255;
  const auto below = above - 1;
  const bool lower_is_nearer = std::fabs(scaled - *below) <= std::fabs(*above - scaled);
  return static_cast<uint8_t>((lower_is_nearer ? below : above) - map.begin());
}

}  // namespace ql::quant
