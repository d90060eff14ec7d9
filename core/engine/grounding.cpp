#include "core/engine/grounding.h"

#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ql::engine {
namespace {

using nlohmann::json;

// Index one past the bracket that closes the one at `open` ('[' or '{'),
// skipping brackets inside JSON strings; npos when it never closes.
size_t matching_close(std::string_view t, size_t open) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = open; i < t.size(); ++i) {
    const char c = t[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') ++depth;
    else if ((c == ']' || c == '}') && --depth == 0) return i + 1;
  }
  return std::string_view::npos;
}

// The JSON values of the text: every outermost bracketed span that parses.
std::vector<json> json_values(std::string_view t) {
  std::vector<json> out;
  for (size_t i = 0; i < t.size();) {
    if (t[i] != '[' && t[i] != '{') {
      ++i;
      continue;
    }
    const size_t end = matching_close(t, i);
    if (end == std::string_view::npos) break;
    json v = json::parse(t.substr(i, end - i), nullptr, /*allow_exceptions=*/false);
    if (!v.is_discarded()) {
      out.push_back(std::move(v));
      i = end;
    } else {
      ++i;  // not JSON here: an inner bracket may still start some
    }
  }
  return out;
}

// The numbers of `key`'s array, `count` of them, each in [0, 1000]; or why not.
std::optional<std::string> read_coords(const json& item, const char* key, size_t count, std::array<double, 4>& out) {
  const json& a = item[key];
  if (!a.is_array() || a.size() != count) return fmt::format("\"{}\" must be a list of {} numbers", key, count);
  for (size_t i = 0; i < count; ++i) {
    if (!a[i].is_number()) return fmt::format("\"{}\" must be a list of {} numbers", key, count);
    const double v = a[i].get<double>();
    if (!std::isfinite(v) || v < 0 || v > kGroundingScale)
      return fmt::format("\"{}\" value {} is outside 0-1000", key, a[i].dump());
    out[i] = v;
  }
  return std::nullopt;
}

void read_item(const json& item, GroundingParse& p) {
  if (!item.is_object()) return;
  const bool box = item.contains("bbox_2d"), point = item.contains("point_2d");
  if (!box && !point) return;  // some other JSON: not grounding
  GroundingShape s;
  s.kind = box ? GroundingShape::Kind::kBox : GroundingShape::Kind::kPoint;
  if (item.contains("label")) {
    if (item["label"].is_string()) s.label = item["label"].get<std::string>();
    else s.label = item["label"].dump();
  }
  const std::string name = s.label.empty() ? std::string("an unlabelled item") : "\"" + s.label + "\"";
  const auto problem = box ? read_coords(item, "bbox_2d", 4, s.coords) : read_coords(item, "point_2d", 2, s.coords);
  if (problem) {
    p.problems.push_back(fmt::format("{}: {}", name, *problem));
    return;
  }
  if (box && (s.coords[0] > s.coords[2] || s.coords[1] > s.coords[3])) {
    p.problems.push_back(fmt::format("{}: \"bbox_2d\" [{}, {}, {}, {}] has its corners the wrong way round", name,
                                     s.coords[0], s.coords[1], s.coords[2], s.coords[3]));
    return;
  }
  p.shapes.push_back(std::move(s));
}

}  // namespace

GroundingParse parse_grounding(std::string_view answer) {
  GroundingParse p;
  for (const json& v : json_values(answer)) {
    if (v.is_array()) {
      for (const json& item : v) read_item(item, p);
    } else {
      read_item(v, p);
    }
  }
  return p;
}

PixelShape to_pixels(const GroundingShape& s, int width, int height) {
  PixelShape px;
  px.kind = s.kind;
  px.label = s.label;
  const double sx = static_cast<double>(width) / kGroundingScale, sy = static_cast<double>(height) / kGroundingScale;
  px.coords = {s.coords[0] * sx, s.coords[1] * sy, s.coords[2] * sx, s.coords[3] * sy};
  if (s.kind == GroundingShape::Kind::kPoint) px.coords[2] = px.coords[3] = 0;
  return px;
}

}  // namespace ql::engine
