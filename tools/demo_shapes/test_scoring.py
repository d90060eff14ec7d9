#!/usr/bin/env python3
"""Checks tools/demo_shapes/scoring.py (run by ctest as demo_shapes_scoring) on the examples of
docs/evaluation.md, the same rules tests/unit/test_answer_scoring.cpp holds the C++ scoring to."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scoring import answer_box, box_iou, is_right, normalise  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


check(normalise("The red Square.") == normalise("red square"), "articles, case and punctuation")
check(normalise("Two.") == "2", "number words become digits")
check(normalise("3.5 and 1,000.") == "3.5 and 1,000", "a point or comma between digits stays")
check(normalise("red circle, blue square") != normalise("blue square, red circle"), "word order counts")
check(normalise("squares") != normalise("square"), "plurals count")
answer = '```json\n[\n\t{"bbox_2d": [100, 200, 300, 400], "label": "red square"}\n]\n```'
check(answer_box(answer) == [100, 200, 300, 400], "the box inside a code block")
check(answer_box("no box here") is None, "no box")
check(abs(box_iou([0, 0, 100, 100], [0, 0, 100, 50]) - 0.5) < 1e-12, "IoU of a half")
check(is_right({"box": [0, 0, 100, 100]}, '[{"bbox_2d": [0, 0, 100, 50]}]'), "IoU 0.5 counts as right")
check(not is_right({"box": [0, 0, 100, 100]}, '[{"bbox_2d": [0, 0, 100, 40]}]'), "IoU 0.4 is wrong")
check(not is_right({"box": [0, 0, 100, 100]}, '[{"bbox_2d": [0, 0, 100]}]'), "three numbers are no box")
check(is_right({"answer": "two"}, "2"), "two is 2")
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("scoring: the documented examples hold")
