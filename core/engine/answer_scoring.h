#pragma once
// Scoring a model's answer against the expected one, for task accuracy per
// precision (docs/evaluation.md): exact match after normalising both, and the
// overlap (IoU) of grounding boxes.
#include <array>
#include <string>
#include <string_view>

namespace ql::engine {

// Lower case; punctuation other than inside numbers ("3.5") becomes space;
// runs of white space become one space; leading and trailing space, and
// the articles "a", "an" and "the", are dropped; number words zero to
// twenty become digits ("two" -> "2"). "The red Square." -> "red square".
std::string normalize_answer(std::string_view text);

bool answers_match(std::string_view answer, std::string_view expected);

// Intersection over union of two boxes x1, y1, x2, y2 (x1 <= x2, y1 <= y2);
// 0 when either is empty and they do not coincide.
double box_iou(const std::array<double, 4>& a, const std::array<double, 4>& b);

}  // namespace ql::engine
