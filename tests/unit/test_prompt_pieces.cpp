// prompt_piece_end (core/engine/prompt_pieces.h): pieces of a long prompt end
// at the limit when text is there, move back before an image that the limit
// would cut (or that would start or end exactly at the cut), and run past
// an image longer than the limit.
#include <gtest/gtest.h>

#include <vector>

#include "core/engine/prompt_pieces.h"

namespace {

using ql::engine::prompt_piece_end;

constexpr int32_t kPad = 9, kStart = 7, kEnd = 8, kText = 1;

// `text` text tokens, then an image of `pads` pads (with start and end), then `after` text tokens.
std::vector<int32_t> with_image(int text, int pads, int after) {
  std::vector<int32_t> ids(text, kText);
  ids.push_back(kStart);
  ids.insert(ids.end(), pads, kPad);
  ids.push_back(kEnd);
  ids.insert(ids.end(), after, kText);
  return ids;
}

TEST(PromptPieces, TextEndsAtTheLimitAndTheRestIsOnePiece) {
  const std::vector<int32_t> ids(1000, kText);
  EXPECT_EQ(prompt_piece_end(ids, 0, 512, kPad), 512);
  EXPECT_EQ(prompt_piece_end(ids, 512, 512, kPad), 1000);
  EXPECT_EQ(prompt_piece_end(ids, 100, 0, kPad), 1000) << "0: no limit";
  EXPECT_EQ(prompt_piece_end(ids, 0, 1000, kPad), 1000);
}

TEST(PromptPieces, AnImageAcrossTheLimitGoesToTheNextPiece) {
  const auto ids = with_image(500, 40, 500);  // start at 500, pads [501, 541), end at 541
  EXPECT_EQ(prompt_piece_end(ids, 0, 512, kPad), 500) << "before vision_start";
  EXPECT_EQ(ids[500], kStart);
  // The next piece begins with the image's bracket and takes it whole.
  EXPECT_EQ(prompt_piece_end(ids, 500, 512, kPad), 500 + 512);
  // Not between vision_start and the first pad, nor between the last pad and vision_end.
  EXPECT_EQ(prompt_piece_end(ids, 0, 501, kPad), 500);
  EXPECT_EQ(prompt_piece_end(ids, 0, 541, kPad), 500);
  // Right after vision_end is a cut.
  EXPECT_EQ(prompt_piece_end(ids, 0, 542, kPad), 542);
}

TEST(PromptPieces, AnImageLongerThanTheLimitRunsWhole) {
  const auto ids = with_image(0, 1500, 100);  // start at 0, pads [1, 1501), end at 1501
  EXPECT_EQ(prompt_piece_end(ids, 0, 512, kPad), 1502) << "the whole image and its vision_end";
  EXPECT_EQ(prompt_piece_end(ids, 1, 512, kPad), 1502);
  const auto only = with_image(0, 1500, 0);
  EXPECT_EQ(prompt_piece_end(only, 0, 512, kPad), static_cast<int64_t>(only.size()));
}

TEST(PromptPieces, EveryPieceHoldsWholeImages) {
  std::vector<int32_t> ids;
  for (int k = 0; k < 6; ++k) {
    const auto part = with_image(37 * k, 90 + 50 * k, 3);
    ids.insert(ids.end(), part.begin(), part.end());
  }
  for (int64_t limit : {16, 64, 100, 333, 512}) {
    SCOPED_TRACE(limit);
    for (int64_t from = 0; from < static_cast<int64_t>(ids.size());) {
      const int64_t end = prompt_piece_end(ids, from, limit, kPad);
      ASSERT_GT(end, from);
      if (end < static_cast<int64_t>(ids.size())) {
        EXPECT_NE(ids[end - 1], kPad) << "piece [" << from << ", " << end << ") ends inside or at an image";
        EXPECT_NE(ids[end], kPad);
      }
      from = end;
    }
  }
}

}  // namespace
