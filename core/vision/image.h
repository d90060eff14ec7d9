#pragma once
// An 8-bit RGB image, row-major, 3 bytes per pixel, no padding. Decoding files
// into this form happens in the app layer (ui/imageio); core only sees pixels.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ql::vision {

struct ImageRGB8 {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // size = width * height * 3

  uint8_t at(int y, int x, int c) const {
    return pixels[(static_cast<size_t>(y) * width + x) * 3 + c];
  }
};

}  // namespace ql::vision
