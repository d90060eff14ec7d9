#include "core/vision/smart_resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace ql::vision {
namespace {

// Python's repr of a float ("250.0", "200.5"), so our message reads like HF's.
std::string python_float(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";
  return s;
}

std::string prefix(std::string_view label) {
  return label.empty() ? std::string() : fmt::format("{}: ", label);
}

}  // namespace

Result<ImageSize> smart_resize(ImageSize original, const PreprocessConfig& cfg,
                               std::string_view label) {
  const int64_t height = original.height;
  const int64_t width = original.width;
  // HF has no guard here (Python would raise ZeroDivisionError below).
  if (height <= 0 || width <= 0) {
    return err("{}image is too small: {}x{} pixels has a zero dimension", prefix(label),
               width, height);
  }
  const double ratio =
      static_cast<double>(std::max(height, width)) / static_cast<double>(std::min(height, width));
  if (ratio > cfg.max_aspect_ratio) {
    return err("{}image is too elongated: aspect ratio {} exceeds {}", prefix(label),
               python_float(ratio), cfg.max_aspect_ratio);
  }

  const double factor = cfg.resize_factor();
  const double h = static_cast<double>(height);
  const double w = static_cast<double>(width);
  // std::nearbyint in the default rounding mode rounds half to even, like
  // Python's round(); h / factor is a true float64 division as in Python.
  int64_t h_bar = static_cast<int64_t>(std::nearbyint(h / factor)) * cfg.resize_factor();
  int64_t w_bar = static_cast<int64_t>(std::nearbyint(w / factor)) * cfg.resize_factor();
  if (h_bar * w_bar > cfg.max_pixels) {
    // Python int / int is correctly rounded; both operands are exact doubles.
    const double beta = std::sqrt(static_cast<double>(height * width) /
                                  static_cast<double>(cfg.max_pixels));
    h_bar = std::max<int64_t>(cfg.resize_factor(),
                              static_cast<int64_t>(std::floor(h / beta / factor)) *
                                  cfg.resize_factor());
    w_bar = std::max<int64_t>(cfg.resize_factor(),
                              static_cast<int64_t>(std::floor(w / beta / factor)) *
                                  cfg.resize_factor());
  } else if (h_bar * w_bar < cfg.min_pixels) {
    const double beta = std::sqrt(static_cast<double>(cfg.min_pixels) /
                                  static_cast<double>(height * width));
    h_bar = static_cast<int64_t>(std::ceil(h * beta / factor)) * cfg.resize_factor();
    w_bar = static_cast<int64_t>(std::ceil(w * beta / factor)) * cfg.resize_factor();
  }
  // Unreachable with a validated config (min_pixels >= 1); kept so a zero
  // grid can never reach the resampler.
  if (h_bar <= 0 || w_bar <= 0) {
    return err("{}image is too small: {}x{} resizes to {}x{}", prefix(label), width, height,
               w_bar, h_bar);
  }
  if (h_bar > INT32_MAX || w_bar > INT32_MAX) {
    return err("{}image is too large: {}x{} resizes to {}x{}", prefix(label), width, height,
               w_bar, h_bar);
  }
  return ImageSize{static_cast<int>(w_bar), static_cast<int>(h_bar)};
}

}  // namespace ql::vision
