// Answer scoring (core/engine/answer_scoring.h): normalisation makes case,
// punctuation, articles, spacing and number words not matter, and nothing
// else; box IoU on known overlaps.
#include <gtest/gtest.h>

#include "core/engine/answer_scoring.h"

namespace {

using namespace ql::engine;

TEST(AnswerScoring, NormalisesCasePunctuationArticlesAndNumbers) {
  EXPECT_EQ(normalize_answer("The red Square."), "red square");
  EXPECT_EQ(normalize_answer("  There are   TWO shapes!\n"), "there are 2 shapes");
  EXPECT_EQ(normalize_answer("3.5 and 1,000, then 7."), "3.5 and 1,000 then 7");
  EXPECT_EQ(normalize_answer("a circle, an oval; the star"), "circle oval star");
  EXPECT_EQ(normalize_answer(""), "");
  EXPECT_EQ(normalize_answer("...!?"), "");
  EXPECT_EQ(normalize_answer("Über grün"), "Über grün") << "bytes beyond ASCII are kept as they are";
}

TEST(AnswerScoring, MatchesOnlyTheSameWords) {
  EXPECT_TRUE(answers_match("Two.", "2"));
  EXPECT_TRUE(answers_match("A blue triangle", "blue triangle"));
  EXPECT_FALSE(answers_match("blue triangle", "triangle blue"));
  EXPECT_FALSE(answers_match("blue triangles", "blue triangle"));
  EXPECT_FALSE(answers_match("3", "2"));
  EXPECT_FALSE(answers_match("", "red"));
}

TEST(AnswerScoring, BoxIou) {
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.0);
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.0 / 150.0);
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {20, 20, 30, 30}), 0.0);
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 10, 10}, {2, 2, 4, 4}), 4.0 / 100.0);
  EXPECT_DOUBLE_EQ(box_iou({5, 5, 5, 5}, {5, 5, 5, 5}), 1.0);
  EXPECT_DOUBLE_EQ(box_iou({5, 5, 5, 5}, {0, 0, 10, 10}), 0.0);
}

}  // namespace
