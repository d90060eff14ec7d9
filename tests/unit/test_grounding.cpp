// parse_grounding (core/engine/grounding.h): Qwen3-VL's box and point
// answers, in a code block or bare, single objects or lists, among other
// text; malformed and out-of-range items become problems naming the item;
// other JSON is not grounding. to_pixels scales 0-1000 to the picture.
#include <gtest/gtest.h>

#include "core/engine/grounding.h"

namespace {

using namespace ql::engine;

TEST(Grounding, ReadsAListOfBoxesInACodeBlock) {
  const auto p = parse_grounding(
      "Here they are:\n```json\n[\n\t{\"bbox_2d\": [100, 200, 300, 400], \"label\": \"red square\"},\n"
      "\t{\"bbox_2d\": [500, 0, 1000, 250.5], \"label\": \"blue circle\"}\n]\n```\nDone.");
  ASSERT_EQ(p.shapes.size(), 2u);
  EXPECT_TRUE(p.problems.empty());
  EXPECT_EQ(p.shapes[0].kind, GroundingShape::Kind::kBox);
  EXPECT_EQ(p.shapes[0].label, "red square");
  EXPECT_EQ(p.shapes[0].coords, (std::array<double, 4>{100, 200, 300, 400}));
  EXPECT_EQ(p.shapes[1].label, "blue circle");
  EXPECT_DOUBLE_EQ(p.shapes[1].coords[3], 250.5);
}

TEST(Grounding, ReadsBareObjectsAndPoints) {
  const auto p = parse_grounding(
      "The star is at {\"point_2d\": [640, 480], \"label\": \"star\"} and the box [{\"bbox_2d\": [1,2,3,4]}].");
  ASSERT_EQ(p.shapes.size(), 2u);
  EXPECT_EQ(p.shapes[0].kind, GroundingShape::Kind::kPoint);
  EXPECT_EQ(p.shapes[0].label, "star");
  EXPECT_EQ(p.shapes[0].coords[0], 640);
  EXPECT_EQ(p.shapes[0].coords[1], 480);
  EXPECT_EQ(p.shapes[1].label, "");
}

TEST(Grounding, MalformedAndOutOfRangeItemsAreProblemsNamingThem) {
  const auto p = parse_grounding(
      "[{\"bbox_2d\": [10, 20, 30], \"label\": \"short\"}, {\"bbox_2d\": [10, 20, 1200, 40], \"label\": \"wide\"},"
      " {\"bbox_2d\": [300, 20, 100, 40], \"label\": \"backwards\"}, {\"point_2d\": [\"a\", 2]},"
      " {\"bbox_2d\": [0, 0, 10, 10], \"label\": \"fine\"}]");
  ASSERT_EQ(p.shapes.size(), 1u);
  EXPECT_EQ(p.shapes[0].label, "fine");
  ASSERT_EQ(p.problems.size(), 4u);
  EXPECT_NE(p.problems[0].find("\"short\""), std::string::npos);
  EXPECT_NE(p.problems[0].find("4 numbers"), std::string::npos);
  EXPECT_NE(p.problems[1].find("1200 is outside 0-1000"), std::string::npos);
  EXPECT_NE(p.problems[2].find("wrong way round"), std::string::npos);
  EXPECT_NE(p.problems[3].find("unlabelled"), std::string::npos);
}

TEST(Grounding, TextWithoutGroundingGivesNothing) {
  for (const char* text : {"", "A red square and a blue circle.", "[not json", "{\"answer\": 4}", "[1, 2, 3]",
                           "```json\n{\"bbox_2d\": [1, 2, 3, 4]\n```", "]]]}}{{[["}) {
    const auto p = parse_grounding(text);
    EXPECT_TRUE(p.shapes.empty()) << text;
    EXPECT_TRUE(p.problems.empty()) << text;
  }
}

TEST(Grounding, BracketsInsideLabelsDoNotEndTheList) {
  const auto p = parse_grounding("[{\"bbox_2d\": [1, 2, 3, 4], \"label\": \"a ] odd \\\" } label\"}]");
  ASSERT_EQ(p.shapes.size(), 1u);
  EXPECT_EQ(p.shapes[0].label, "a ] odd \" } label");
}

TEST(Grounding, PixelsScaleFromThousandths) {
  GroundingShape box;
  box.coords = {100, 250, 500, 1000};
  const auto px = to_pixels(box, 640, 480);
  EXPECT_DOUBLE_EQ(px.coords[0], 64);
  EXPECT_DOUBLE_EQ(px.coords[1], 120);
  EXPECT_DOUBLE_EQ(px.coords[2], 320);
  EXPECT_DOUBLE_EQ(px.coords[3], 480);
  GroundingShape point;
  point.kind = GroundingShape::Kind::kPoint;
  point.coords = {500, 500, 0, 0};
  const auto pp = to_pixels(point, 300, 170);
  EXPECT_DOUBLE_EQ(pp.coords[0], 150);
  EXPECT_DOUBLE_EQ(pp.coords[1], 85);
}

}  // namespace
