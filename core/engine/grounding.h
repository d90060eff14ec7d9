#pragma once
// Qwen3-VL grounding in an answer's text (docs/grounding.md): JSON objects
// with "bbox_2d": [x1, y1, x2, y2] or "point_2d": [x, y] and a "label", in
// coordinates 0-1000 relative to the picture, usually a list inside a ```json
// code block. parse_grounding finds them; an item that names a box or point
// but is malformed or out of range is reported as a problem (the app shows
// it as text), never thrown.
#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace ql::engine {

struct GroundingShape {
  enum class Kind { kBox, kPoint };
  Kind kind = Kind::kBox;
  std::string label;
  // Box: x1, y1, x2, y2 (x1 <= x2, y1 <= y2); point: x, y, then unused. 0-1000.
  std::array<double, 4> coords{};
};

struct GroundingParse {
  std::vector<GroundingShape> shapes;   // in answer order
  std::vector<std::string> problems;    // one sentence per item left out, naming it
};

inline constexpr double kGroundingScale = 1000.0;  // Qwen3-VL's relative coordinates

GroundingParse parse_grounding(std::string_view answer);

// A shape in pixels of a picture of width x height (coordinate * size / 1000).
struct PixelShape {
  GroundingShape::Kind kind = GroundingShape::Kind::kBox;
  std::string label;
  std::array<double, 4> coords{};
};
PixelShape to_pixels(const GroundingShape& s, int width, int height);

}  // namespace ql::engine
