#include "core/vision/resample.h"

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

#include "core/vision/parallel_rows.h"
#include "core/vision/resample_weights.h"

namespace ql::vision {
namespace {

constexpr int kChannels = 3;

inline uint8_t to_u8(int32_t acc, int precision) {
  // Arithmetic shift (defined in C++20), then clamp: the bicubic lobes over/undershoot.
  return static_cast<uint8_t>(std::clamp(acc >> precision, 0, 255));
}

ImageRGB8 horizontal_pass(const ImageRGB8& src, int out_width) {
  const ResampleTaps taps = compute_resample_taps(src.width, out_width);
  const int32_t half = int32_t{1} << (taps.precision - 1);
  ImageRGB8 dst;
  dst.width = out_width;
  dst.height = src.height;
  dst.pixels.resize(static_cast<size_t>(out_width) * src.height * kChannels);
  const size_t in_stride = static_cast<size_t>(src.width) * kChannels;
  const size_t out_stride = static_cast<size_t>(out_width) * kChannels;
  parallel_rows(src.height, out_width * static_cast<size_t>(taps.stride), [&](int y0, int y1) {
    for (int y = y0; y < y1; ++y) {
      const uint8_t* in = src.pixels.data() + y * in_stride;
      uint8_t* out = dst.pixels.data() + y * out_stride;
      for (int x = 0; x < out_width; ++x) {
        const int32_t* w = taps.weights_of(x);
        const uint8_t* p = in + static_cast<size_t>(taps.first[x]) * kChannels;
        int32_t r = half, g = half, b = half;
        for (int k = 0; k < taps.count[x]; ++k, p += kChannels) {
          r += w[k] * p[0];
          g += w[k] * p[1];
          b += w[k] * p[2];
        }
        out[x * kChannels + 0] = to_u8(r, taps.precision);
        out[x * kChannels + 1] = to_u8(g, taps.precision);
        out[x * kChannels + 2] = to_u8(b, taps.precision);
      }
    }
  });
  return dst;
}

ImageRGB8 vertical_pass(const ImageRGB8& src, int out_height) {
  const ResampleTaps taps = compute_resample_taps(src.height, out_height);
  const int32_t half = int32_t{1} << (taps.precision - 1);
  ImageRGB8 dst;
  dst.width = src.width;
  dst.height = out_height;
  const size_t row_len = static_cast<size_t>(src.width) * kChannels;
  dst.pixels.resize(row_len * out_height);
  parallel_rows(out_height, row_len * taps.stride, [&](int y0, int y1) {
    // Whole rows at a time: the inner loop runs over contiguous bytes and vectorises.
    std::vector<int32_t> acc(row_len);
    for (int y = y0; y < y1; ++y) {
      std::fill(acc.begin(), acc.end(), half);
      const int32_t* w = taps.weights_of(y);
      for (int k = 0; k < taps.count[y]; ++k) {
        const uint8_t* in = src.pixels.data() + static_cast<size_t>(taps.first[y] + k) * row_len;
        const int32_t wk = w[k];
        for (size_t i = 0; i < row_len; ++i) acc[i] += wk * in[i];
      }
      uint8_t* out = dst.pixels.data() + static_cast<size_t>(y) * row_len;
      for (size_t i = 0; i < row_len; ++i) out[i] = to_u8(acc[i], taps.precision);
    }
  });
  return dst;
}

}  // namespace

Result<ImageRGB8> resize_bicubic_antialias(const ImageRGB8& src, ImageSize out) {
  if (src.width <= 0 || src.height <= 0 ||
      src.pixels.size() != static_cast<size_t>(src.width) * src.height * kChannels) {
    return err("resize: source image {}x{} has {} bytes of pixels, expected {}", src.width,
               src.height, src.pixels.size(),
               static_cast<size_t>(std::max(src.width, 0)) * std::max(src.height, 0) * kChannels);
  }
  if (out.width <= 0 || out.height <= 0) {
    return err("resize: target size {}x{} is empty", out.width, out.height);
  }
  try {
    if (out.width == src.width && out.height == src.height) return src;
    if (out.width == src.width) return vertical_pass(src, out.height);
    ImageRGB8 wide = horizontal_pass(src, out.width);
    if (out.height == src.height) return wide;
    return vertical_pass(wide, out.height);
  } catch (const std::bad_alloc&) {
    return internal_err("resize: out of memory resizing {}x{} to {}x{}", src.width, src.height,
                        out.width, out.height);
  }
}

}  // namespace ql::vision
